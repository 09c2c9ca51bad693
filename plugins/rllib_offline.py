"""Behaviour cloning on RLlib's offline API (new API stack): the `bc` algorithm, an offline learner that clones an
Arena dataset (arena.services.dataset) into an ordinary snapshot with a value head.

RLlib's BC reads the Parquet files itself (column format, the masked Dict observation as a struct column) and
trains Arena's masked PPO module on every seat's moves, so the weights load into a PPO learner unchanged. BC does
not train the critic (it is MARWIL with beta = 0), so the value head is fitted afterwards in plain torch to the
seats' final outcomes. Nothing here is imported at CLI start-up: ray and torch are imported when cloning starts.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arena.hookspecs import hookimpl

# RLlib's BC defaults (lr 1e-4, batches of 2,000) are made for large datasets; board-game datasets of a few
# thousand games learn faster with these.
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {"lr": 1e-3, "train_batch_size_per_learner": 512}
ITERATIONS_PER_CALL = 50  # minibatches per RLlib iteration at most (one epoch when the data is smaller)
VALUE_BATCH = 256
VALUE_LR = 1e-3


def _spaces(obs_dim: int, num_actions: int) -> tuple[Any, Any]:
    """The masked Dict observation space and action space, as the env bridge builds them (plugins/rllib_env.py)."""
    import gymnasium as gym
    import numpy as np

    return (gym.spaces.Dict({"observations": gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
                             "action_mask": gym.spaces.Box(0.0, 1.0, (num_actions,), np.float32)}),
            gym.spaces.Discrete(num_actions))


def _config(folder: Path, skip: Sequence[Path], obs_dim: int, num_actions: int, hidden: Sequence[int], seed: int,
            hyperparameters: Mapping[str, Any], iterations: int, resources: Mapping[str, Any],
            soft_targets: bool = False) -> Any:
    from ray.rllib.algorithms.bc import BCConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from arena.services.dataset import RLLIB_COLUMNS, TEACHER_COLUMN

    from .rllib_modules import MaskedPPOTorchRLModule

    observation_space, action_space = _spaces(obs_dim, num_actions)
    hp = {**DEFAULT_HYPERPARAMETERS, **hyperparameters}
    batch = int(hp["train_batch_size_per_learner"])
    return (
        BCConfig()
        .environment(observation_space=observation_space, action_space=action_space)
        .offline_data(
            # The folder, less the held-out files: Ray Data resolves a list of files in parallel threads, which
            # race on importing fsspec's optional HTTP filesystem when aiohttp is not installed.
            input_=[str(Path(folder).resolve())],
            # RLlib turns every column it does not know into an extra model output; Arena's own columns (match
            # id, player, ...) stay on disk.
            # A teacher's move probabilities (soft targets) reach the learner's batch as that extra column.
            input_read_method_kwargs={"columns": [*RLLIB_COLUMNS, *([TEACHER_COLUMN] if soft_targets else [])],
                                      "skip_paths": [str(Path(p).resolve()) for p in skip]},
            dataset_num_iters_per_learner=iterations,
            # One pre-learner on a small machine: BC maps the data once (materialize_mapped_data) and then
            # iterates over it in memory.
            map_batches_kwargs={"concurrency": 1, "num_cpus": 1, "max_restarts": 0},
            # Rows are stored game by game; a shuffle buffer mixes the minibatches.
            # drop_last: an epoch's remainder (4 rows of 19,460, say) is no minibatch to take a step on.
            iter_batches_kwargs={"prefetch_batches": 1, "local_shuffle_buffer_size": 8 * batch,
                                 "local_shuffle_seed": seed, "drop_last": True},
        )
        # The PPO module: BC's loss needs only its logits, and the trained weights load into a PPO learner as they
        # are (separate actor and critic encoders, as Arena's PPO builds them).
        .rl_module(rl_module_spec=RLModuleSpec(module_class=MaskedPPOTorchRLModule, model_config={
            "fcnet_hiddens": list(hidden), "head_fcnet_hiddens": [], "vf_share_layers": False}))
        .learners(num_learners=0, num_gpus_per_learner=float(resources.get("num_gpus_per_learner") or 0))
        .debugging(seed=seed)
        .training(**hp, **({"learner_class": _soft_target_learner()} if soft_targets else {}))
    )


def _soft_target_learner() -> type:
    from .rllib_soft_targets import SoftTargetBCTorchLearner

    return SoftTargetBCTorchLearner


def _quiet_data() -> None:
    """Ray Data logs every dataset execution and draws progress bars from the driver: hidden unless verbose."""
    import ray.data

    from arena import logs

    if logs.is_verbose():
        return
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logger = logging.getLogger("ray.data")
    logger.setLevel(logging.ERROR)
    for handler in logger.handlers:
        handler.setLevel(logging.ERROR)


@contextlib.contextmanager
def _hushed() -> Any:
    """Ray's deprecation warnings, which Ray re-enables for itself when imported, hidden unless verbose (RLlib's own
    offline pipeline passes arguments Ray Data deprecates)."""
    from arena import logs

    with warnings.catch_warnings():
        if not logs.is_verbose():
            warnings.simplefilter("ignore", DeprecationWarning)
        yield


class BehaviourCloning:
    """`bc`: an offline algorithm (arena.protocols.OfflineLearner). It does not meet opponents; it clones data."""

    @staticmethod
    def check_hyperparameters(params: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> str | None:
        """One line naming hyperparameters RLlib's BCConfig does not have, or None; starts no Ray."""
        from ray.rllib.algorithms.bc import BCConfig

        from .rllib_algorithms import _unknown_hyperparameters

        return _unknown_hyperparameters("bc", BCConfig(), hyperparameters)

    @classmethod
    def create(cls, params: Mapping[str, Any], **kwargs: Any) -> Any:
        from arena.errors import UsageError

        raise UsageError("bc learns from a dataset, not by playing: `arena train ENV --algo bc --data DIR` "
                         "(then start PPO from its snapshot with --init).")

    @classmethod
    def clone(cls, params: Mapping[str, Any], *, env: str, train_files: Sequence[Path],
              held_out_files: Sequence[Path], obs_dim: int, num_actions: int, hidden: tuple[int, ...], seed: int,
              hyperparameters: Mapping[str, Any], minutes: float | None, epochs: float | None,
              iterations: int | None, value_gamma: float, features: int, soft_targets: bool,
              folder: Path, data: str, resources: Mapping[str, Any], progress: Any) -> dict[str, Any]:
        """Train RLlib's BC on `train_files` until `epochs` passes, `iterations` RLlib iterations or `minutes`
        (whichever given comes first), fit the value head, measure the held-out accuracy, and save snapshot
        `folder`; returns the figures for the summary."""
        import pyarrow.parquet as pq

        from arena.services.cloning import load_columns

        from . import snapshot
        from .ray_session import connect
        from .rllib_algorithms import SNAPSHOT_LAYERS

        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in train_files)
        hp = {**DEFAULT_HYPERPARAMETERS, **hyperparameters}
        batch = max(1, min(int(hp["train_batch_size_per_learner"]), rows))  # a minibatch is never more than the data
        hyperparameters = {**hyperparameters, "train_batch_size_per_learner": batch}
        per_call = max(1, min(ITERATIONS_PER_CALL, rows // batch))
        connect(resources.get("address"))
        _quiet_data()
        started = time.monotonic()
        # the training files are the dataset folder's Parquet files but the held-out ones (and no subfolder)
        skip = [*held_out_files, *(p for p in Path(data).iterdir() if p.is_dir())]
        algo = _config(Path(data), skip, obs_dim, num_actions, hidden, seed, hyperparameters, per_call,
                       resources, soft_targets).build_algo()
        samples = done = 0
        loss = math.nan
        interrupted = False
        try:
            while True:
                try:
                    with _hushed():
                        result = algo.train()
                except KeyboardInterrupt:  # Ctrl-C: keep what was learned so far, as a training run does
                    interrupted = True
                    break
                done += 1
                samples += per_call * batch
                stats = result.get("learners", {}).get("default_policy", {})
                loss = float(stats.get("policy_loss", math.nan))  # RLlib logs the last minibatch's only
                progress.say(f"bc iter {done:>4}  samples {samples:>9,}  epoch {samples / rows:5.2f}  "
                             f"minibatch loss {loss:.4f}")
                if epochs is not None and samples >= epochs * rows or iterations is not None and done >= iterations:
                    break
                if minutes is not None and time.monotonic() - started >= minutes * 60:
                    break
            state = algo.learner_group.get_weights()["default_policy"]
        finally:
            algo.stop()
            # the Learner's open Ray Data iterator reports to Ray when it is closed: close it now, not at exit
            del algo
            gc.collect()
        import torch

        state = {k: torch.as_tensor(v) for k, v in state.items()}
        weights = snapshot.actor_state_dict(state, hidden, SNAPSHOT_LAYERS["ppo"])
        meta = {"env": env, "algo": "bc", "obs_dim": obs_dim, "num_actions": num_actions, "hidden": list(hidden),
                "activation": "tanh", "features": features, "iteration": done, "env_steps": 0, "samples": samples,
                "parent": None, "data": data}
        policy = snapshot.build_net(meta)
        policy.load_state_dict(weights)
        policy.eval()
        train = load_columns(train_files, obs_dim, num_actions)
        held = load_columns(held_out_files, obs_dim, num_actions)
        bc_epochs = samples / rows if rows else 0.0
        value, value_mse, held_value_mse = fit_value(policy, meta, train, held, gamma=value_gamma, seed=seed,
                                                     epochs=max(1, min(20, round(bc_epochs))))
        held_accuracy, held_loss = accuracy(policy, held)
        train_accuracy, train_loss = accuracy(policy, train, 20_000)
        figures = {"held_out_accuracy": held_accuracy, "train_accuracy": train_accuracy,
                   "held_out_cross_entropy": held_loss, "train_cross_entropy": train_loss,
                   "held_out_moves": int(len(held["actions"])), "train_moves": rows, "samples": samples,
                   "iterations": done, "epochs": round(bc_epochs, 2),
                   "value_mse": value_mse, "held_out_value_mse": held_value_mse, "interrupted": interrupted}
        meta.update({"held_out_accuracy": figures["held_out_accuracy"],
                     "value": {"hidden": list(hidden), "activation": "tanh", "gamma": value_gamma}})
        snapshot.save(Path(folder), weights, meta, value)
        return figures


def accuracy(policy: Any, columns: Mapping[str, Any], limit: int | None = None) -> tuple[float | None, float | None]:
    """(share of the moves whose masked argmax under `policy` is the move in the data, mean cross-entropy of the
    moves under the masked policy) over the first `limit` rows; (None, None) without moves."""
    import numpy as np
    import torch

    n = len(columns["actions"]) if limit is None else min(limit, len(columns["actions"]))
    if n == 0:
        return None, None
    with torch.no_grad():
        logits = policy(torch.from_numpy(np.ascontiguousarray(columns["x"][:n])))
        logits = logits.masked_fill(torch.from_numpy(columns["mask"][:n]) <= 0, float("-inf"))
        actions = torch.from_numpy(columns["actions"][:n]).long()
        loss = float(torch.nn.functional.cross_entropy(logits, actions))
        hits = float((logits.argmax(dim=1) == actions).float().mean())
    return round(hits, 4), round(loss, 4)


def fit_value(policy: Any, meta: Mapping[str, Any], train: Mapping[str, Any], held: Mapping[str, Any], *,
              gamma: float, seed: int, epochs: int) -> tuple[dict[str, Any], float | None, float | None]:
    """A value head (build_net with one output) regressed on the seat's final outcome times gamma ** (own moves
    left), by mean squared error with Adam; its hidden layers start from the policy's, whose features already tell
    good moves from bad. Returns (state dict, training MSE, held-out MSE)."""
    import numpy as np
    import torch

    from . import snapshot

    def target(columns: Mapping[str, Any]) -> Any:
        outcome = (columns["outcome"] * gamma ** columns["to_end"]).astype(np.float32)
        teacher = columns.get("value", np.full(len(outcome), np.nan, np.float32))
        # where a teacher valued the position: the mean of its value and the (discounted) outcome
        return torch.from_numpy(np.where(np.isnan(teacher), outcome, 0.5 * (outcome + teacher)).astype(np.float32))

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = snapshot.build_net(meta, outputs=1)
        hidden_layers = {k: v for k, v in policy.state_dict().items() if int(k.split(".")[0]) < 2 * len(meta["hidden"])}
        net.load_state_dict(hidden_layers, strict=False)
        x, y = torch.from_numpy(np.ascontiguousarray(train["x"])), target(train)
        optimiser = torch.optim.Adam(net.parameters(), lr=VALUE_LR)
        generator = torch.Generator().manual_seed(seed)
        mse = None
        for _ in range(epochs if len(y) else 0):
            order = torch.randperm(len(y), generator=generator)
            total = 0.0
            for start in range(0, len(y), VALUE_BATCH):
                idx = order[start:start + VALUE_BATCH]
                loss = torch.nn.functional.mse_loss(net(x[idx]).squeeze(-1), y[idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(idx)
            mse = round(total / len(y), 4)
    net.eval()
    held_mse = None
    if len(held["actions"]):
        with torch.no_grad():
            prediction = net(torch.from_numpy(np.ascontiguousarray(held["x"]))).squeeze(-1)
            held_mse = round(float(torch.nn.functional.mse_loss(prediction, target(held))), 4)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, mse, held_mse


@hookimpl
def register_algorithms(register):
    register("bc", "arena.plugins.rllib_offline:BehaviourCloning", params={"algo": "bc"},
             description="Behaviour cloning from an Arena dataset (RLlib BC, offline, new API stack): "
                         "arena train ENV --algo bc --data DIR.")
