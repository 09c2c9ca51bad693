"""RLlib algorithms as Arena plugins (new API stack): masked PPO, APPO and DQN over Arena games, and a training session.

Nothing here is imported at CLI start-up: ray is imported when a session is built.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arena.hookspecs import hookimpl

from .ray_snapshots import pack, unpack

MODULE = "main"
# Defaults tuned for small board games on 2 cores. RLlib's own PPO defaults spend most of their time in 30 SGD
# epochs; with these, PPO on openspiel/connect_four vs random goes from ~170 to ~900 env steps/s (8 envs).
# A discount of 0.9 (RLlib: 0.99) makes a quick win worth much more than a slow one: the only reward is the
# outcome, and a learner that wins fast leaves its opponent fewer chances. Batches of 2,000 steps update the
# policy twice as often. Connect Four self-play (benchmarks/selfplay_connect_four.py, 64 envs) reached 95%
# against random in 1.5-3.1 min over 3 seeds, against 3.1-5.0 min with gamma 0.99 and batches of 4,000.
# Games much longer than Connect Four want a higher gamma (--hp gamma=0.99).
DEFAULT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "ppo": {"num_epochs": 6, "minibatch_size": 256, "train_batch_size_per_learner": 2000, "lr": 5e-4,
            "gamma": 0.9},
    "appo": {},
    # Episode replay for many agents; epsilon decays over the first 50k steps, which suits short board games.
    "dqn": {"replay_buffer_config": {"type": "MultiAgentEpisodeReplayBuffer", "capacity": 50_000},
            "epsilon": [(0, 1.0), (50_000, 0.05)], "n_step": 3, "train_batch_size_per_learner": 128,
            "target_network_update_freq": 1_000},
}
# One-seat games (Gymnasium control tasks such as Taxi-v3, CartPole-v1, FrozenLake-v1) reward every step and last
# hundreds of steps, so they get their own defaults on top of those above (`defaults(algo, num_seats)`; --hp still
# overrides each): RLlib's discount of 0.99, and no clipping of the value loss (RLlib's vf_clip_param of 10 zeroes
# the critic's gradient wherever a return is more than ~3 away from its estimate, i.e. almost everywhere in Taxi,
# whose returns start near -200), and a learning rate of 1e-3 (Taxi-v3 after 2.5 min, 200 greedy games: 6.67 at 5e-4,
# 7.32 at 1e-3; 6.71 with 10 epochs, 6.95 with entropy 0.01, 6.26 with lambda 0.95).
# docs/training.md#one-seat-games; benchmarks/one_seat.py measures them.
ONE_SEAT_HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "ppo": {"gamma": 0.99, "vf_clip_param": 100_000.0, "lr": 1e-3},
    "appo": {"gamma": 0.99},
    "dqn": {"gamma": 0.99},
}
# Where each algorithm's module keeps the policy a snapshot freezes: (encoder MLP prefix, logits/advantage layer).
# DQN's greedy action is the argmax of its advantage head, so a dueling net freezes to the same plain MLP.
SNAPSHOT_LAYERS = {"ppo": ("encoder.actor_encoder.net.mlp", "pi.net.mlp.0"),
                   "appo": ("encoder.actor_encoder.net.mlp", "pi.net.mlp.0"),
                   "dqn": ("encoder.net.mlp", "af.net.mlp.0")}
# ...and where the actor-critics keep the value head a snapshot keeps too (for search on the learned network).
VALUE_LAYERS = {"ppo": ("encoder.critic_encoder.net.mlp", "vf.net.mlp.0"),
                "appo": ("encoder.critic_encoder.net.mlp", "vf.net.mlp.0")}


@dataclass
class Resources:
    """Scale knobs; the defaults fit a 2-core laptop."""

    num_env_runners: int = 0
    # Vectorised envs batch the module's forward passes and RLlib's per-step bookkeeping: on Connect Four one
    # EnvRunner samples 4,000 env steps in 3.1 s with 8 envs, 1.7 s with 32 and 1.4 s with 64.
    num_envs_per_env_runner: int = 64
    num_learners: int = 0
    num_gpus_per_learner: float = 0.0
    address: str | None = None  # a Ray cluster; None starts a local Ray on all of this machine's CPUs
    # Torch threads in this process, where sampling and the update run with 0 EnvRunners and 0 Learners: the
    # networks are small, and on 2 cores torch's default of 2 threads made a PPO iteration 3-8x slower under load
    # (benchmarks/sampling_throughput.py --torch-threads). None leaves torch's default.
    torch_threads: int | None = 1


@dataclass
class TrainSpec:
    """What to train: an env, an algorithm with hyperparameters, and whom the learner meets (weights)."""

    env: str
    algo: str = "ppo"
    table: Mapping[str, float] = field(default_factory=lambda: {"random": 1.0})
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    hidden: tuple[int, ...] = (128, 128)
    seed: int = 0
    resources: Resources = field(default_factory=Resources)


def dense(info: Any) -> bool:
    """A game that rewards every step over a long episode (a one-seat Gymnasium env, a simulation played by teams)
    rather than only its outcome: it gets ONE_SEAT_HYPERPARAMETERS on top of the defaults."""
    return info.num_seats == 1 or bool(info.teams)


def defaults(algo: str, info: Any) -> dict[str, Any]:
    """Arena's default hyperparameters of an algorithm for this game (--hp overrides them)."""
    return {**DEFAULT_HYPERPARAMETERS.get(algo, {}), **(ONE_SEAT_HYPERPARAMETERS.get(algo, {}) if dense(info) else {})}


@functools.cache
def game_info(env: str) -> Any:
    """The GameInfo of an env spec (one game made and closed, once per process)."""
    from arena.registry import Registry

    game = Registry().make_game(env)
    game.close()
    return game.info


def info_cooperative(spec: TrainSpec) -> bool:
    """The game has one side (one seat, or one team of everyone): the learner is scored by its return."""
    return len(game_info(spec.env).sides) == 1


def modules_of(spec: TrainSpec) -> tuple[list[str], list[str | None]]:
    """(the learner's module ids, the module playing each seat or None where the learner never sits): its
    `sharing` (all, team or agent) over the seats of its `team` (every seat when it has none)."""
    from arena.learners import seat_modules, team_seats

    info = game_info(spec.env)
    playable = set(team_seats(info, spec.hyperparameters.get("team")))
    mapping = seat_modules(info, spec.hyperparameters.get("sharing", "all"), MODULE)
    by_seat = [m if seat in playable else None for seat, m in enumerate(mapping)]
    return list(dict.fromkeys(m for m in by_seat if m is not None)), by_seat


# Hyperparameters of Arena's (its env's, or the anchored learner's) rather than of RLlib's algorithm config.
# sharing: which module plays which agent ("all", "team", "agent"); team: the only team the learner plays.
ENV_HYPERPARAMETERS = {"opening_plies", "lookahead", "anchor", "sharing", "team"}


def _config(spec: TrainSpec) -> Any:
    from ray.rllib.algorithms.appo import APPOConfig
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from arena.settings import Settings

    from .rllib_env import ArenaMultiAgentEnv, module_of
    from .rllib_modules import MaskedAPPOTorchRLModule, MaskedDQNTorchRLModule, MaskedPPOTorchRLModule

    config_class, module_class = {"ppo": (PPOConfig, MaskedPPOTorchRLModule),
                                  "appo": (APPOConfig, MaskedAPPOTorchRLModule),
                                  "dqn": (DQNConfig, MaskedDQNTorchRLModule)}[spec.algo]
    r = spec.resources
    rllib_hp = {k: v for k, v in spec.hyperparameters.items() if k not in ENV_HYPERPARAMETERS}
    problem = _unknown_hyperparameters(spec.algo, config_class(), spec.hyperparameters)
    if problem:
        from arena.errors import ParameterError

        raise ParameterError(problem)
    modules, _ = modules_of(spec)
    config = (
        config_class()
        # RLlib's env pre-check steps with unmasked random actions, which the bridge refuses by design; the
        # bridge's contract is checked by Arena's own tests instead.
        .environment(ArenaMultiAgentEnv, env_config={"env": spec.env, "module": MODULE, "table": dict(spec.table),
                                                     "seed": spec.seed,
                                                     "opening_plies": int(spec.hyperparameters.get("opening_plies", 0)),
                                                     "lookahead": spec.hyperparameters.get("lookahead", False),
                                                     "sharing": spec.hyperparameters.get("sharing", "all"),
                                                     "team": spec.hyperparameters.get("team"),
                                                     # the driver's plugin block list, for the EnvRunners' registry
                                                     "blocked": list(Settings.from_environment().blocked),
                                                     # opponents' snapshot folders, for EnvRunners on other nodes
                                                     "snapshots": pack(spec.table)},
                     disable_env_checking=True)
        .multi_agent(policies=set(modules), policy_mapping_fn=module_of, policies_to_train=modules)
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={
            m: RLModuleSpec(module_class=module_class,
                            model_config={"fcnet_hiddens": list(spec.hidden), "head_fcnet_hiddens": []})
            for m in modules}))
        .env_runners(num_env_runners=r.num_env_runners, num_envs_per_env_runner=r.num_envs_per_env_runner)
        .learners(num_learners=r.num_learners, num_gpus_per_learner=r.num_gpus_per_learner)
        .fault_tolerance(restart_failed_env_runners=True)
        .debugging(seed=spec.seed)
    )
    anchor = float(spec.hyperparameters.get("anchor", 0.0))
    if anchor > 0:  # PPO with a KL penalty to the snapshot it starts from (plugins/rllib_anchor.py)
        from .rllib_anchor import ANCHOR_KEY, AnchoredPPOTorchLearner

        rllib_hp = {**rllib_hp, "learner_class": AnchoredPPOTorchLearner}
        config = config.training(learner_config_dict={ANCHOR_KEY: anchor})
    return config.training(**{**defaults(spec.algo, game_info(spec.env)), **rllib_hp})


def _unknown_hyperparameters(algo: str, config: Any, hyperparameters: Mapping[str, Any]) -> str | None:
    plies = hyperparameters.get("opening_plies", 0)
    if not isinstance(plies, int) or isinstance(plies, bool) or plies < 0:
        return f"opening_plies must be a whole number of plies, 0 or more, not {plies!r}."
    from arena.features import lookahead_error

    if lookahead_error(hyperparameters.get("lookahead", False)):
        return lookahead_error(hyperparameters["lookahead"])
    anchor = hyperparameters.get("anchor", 0.0)
    if isinstance(anchor, bool) or not isinstance(anchor, (int, float)) or not 0 <= anchor < float("inf"):
        return f"anchor must be a KL coefficient, 0 or more, not {anchor!r}."
    if anchor and algo != "ppo":
        return f"anchor (a KL penalty to the starting snapshot) is for ppo, not {algo}."
    from arena.learners import SHARING

    sharing = hyperparameters.get("sharing", "all")
    if not isinstance(sharing, Mapping) and sharing not in SHARING:
        return f"sharing must be one of {', '.join(SHARING)} or a table {{module = [agents]}}, not {sharing!r}."
    if not isinstance(hyperparameters.get("team", ""), str):
        return f"team must be a team's name, not {hyperparameters['team']!r}."
    unknown = sorted(k for k in hyperparameters
                     if k not in ENV_HYPERPARAMETERS and (k.startswith("_") or not hasattr(config, k)))
    if not unknown:
        return None
    import difflib

    close = [m for k in unknown for m in difflib.get_close_matches(k, [a for a in dir(config) if a[0] != "_"], 1)]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"{algo} has no hyperparameter {', '.join(unknown)}{hint} (RLlib's {type(config).__name__})."


def _bad_hyperparameter_values(algo: str, config: Any, hyperparameters: Mapping[str, Any]) -> str | None:
    """One line naming a hyperparameter value RLlib would fail on or train badly with, or None; starts no Ray.

    A value must have the kind of its RLlib default (a number where RLlib's default is a number; a list is a
    schedule), lie in the range below where one is known, and pass RLlib's own AlgorithmConfig.validate() together
    with Arena's defaults (which catches, for example, a malformed lr schedule or a minibatch above the batch)."""
    import math

    positive, unit, at_least_0, at_least_1 = (0, False), (0, True, 1), (0, True), (1, True)
    ranges = {"lr": positive, "gamma": unit, "lambda_": unit, "clip_param": positive, "vf_clip_param": positive,
              "grad_clip": positive, "entropy_coeff": at_least_0, "vf_loss_coeff": at_least_0, "kl_coeff": at_least_0,
              "kl_target": positive, "num_epochs": at_least_1, "minibatch_size": at_least_1,
              "train_batch_size_per_learner": at_least_1, "train_batch_size": at_least_1, "n_step": at_least_1,
              "target_network_update_freq": at_least_1, "tau": unit}
    rllib_hp = {k: v for k, v in hyperparameters.items() if k not in ENV_HYPERPARAMETERS}
    for key, value in rllib_hp.items():
        default = getattr(config, key, None)
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if isinstance(value, float) and not math.isfinite(value):
            return f"{algo} hyperparameter {key} must be a finite number, got {value!r}."
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float, list))):
            return f"{algo} hyperparameter {key} must be a number (RLlib's default is {default!r}), got {value!r}."
        if key in ranges and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, closed, *high = ranges[key]
            if value < low or (not closed and value == low) or (high and value > high[0]):
                bounds = f"from {low} to {high[0]}" if high else f"at least {low}" if closed else f"above {low}"
                return f"{algo} hyperparameter {key} must be {bounds}, got {value!r}."
    from arena.logs import quiet_ray

    quiet_ray()  # validate() logs RLlib's "new API stack" notice, which quiet mode hides (arena.logs)
    try:  # RLlib's own checks; validate() reads the config and starts nothing
        type(config)().training(**{**DEFAULT_HYPERPARAMETERS.get(algo, {}), **rllib_hp}).validate()
    except (TypeError, ValueError, KeyError) as e:
        text = " ".join(str(e).split())
        return f"RLlib refused the {algo} hyperparameters: {text[:300]}{'...' if len(text) > 300 else ''}"
    return None


def obs_dim(module: Any) -> int:
    """The length of the feature vector a module's network sees (a masked module's, without the mask)."""
    masked = getattr(module, "masked_observation_space", None)
    return int((masked["observations"] if masked is not None else module.observation_space).shape[0])


class Session:
    """One learner training in RLlib, an `arena.protocols.Learner`: Arena keeps the matchmaking table and reads
    episode outcomes back."""

    def __init__(self, spec: TrainSpec):
        from .ray_session import connect

        self.spec = spec
        r = spec.resources
        if r.torch_threads and r.num_env_runners == 0 and r.num_learners == 0:
            import torch

            torch.set_num_threads(r.torch_threads)
        from arena.features import version_for
        from arena.registry import Registry

        from .ray_ship import needs_of

        connect(r.address, needs=needs_of(Registry(), spec.env, list(spec.table)) if r.address else None)

        info = game_info(spec.env)
        self.env_id = info.env_id  # canonical id, for snapshot metadata
        self.modules, self.seat_modules = modules_of(spec)
        self.features = version_for(spec.hyperparameters.get("lookahead", False))  # the encoding it sees
        self.module_id, config = self._configure(spec, info)
        self.algo = config.build_algo()
        # sampling on EnvRunner actors: this process only waits and updates, so the league may train this
        # learner at the same time as others (arena.services.scheduler)
        self.samples_remotely = r.num_env_runners > 0
        self.runner_nodes: list[str] = self._runner_nodes() if self.samples_remotely else []
        self.iteration = self.env_steps = 0
        self.anchor: str | None = None  # the snapshot folder PPO's KL penalty holds the policy to (anchor > 0)

    def _configure(self, spec: TrainSpec, info: Any) -> tuple[str, Any]:
        """(the id of the module that plays, the RLlib config to build)."""
        # A one-seat game (a Gymnasium env) has no opponents and one agent: PPO samples it with RLlib's
        # SingleAgentEnvRunner (plugins/rllib_single_env.py), ~1.4x faster than the multi-agent one, under RLlib's
        # default module id; the other algorithms keep the multi-agent path.
        self.single = info.num_seats == 1 and spec.algo == "ppo"
        if self.single:
            from ray.rllib.core import DEFAULT_MODULE_ID

            from .rllib_single_env import single_agent_config

            return DEFAULT_MODULE_ID, single_agent_config(spec)
        return self.modules[0], _config(spec)

    @staticmethod
    def check_hyperparameters(params: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> str | None:
        """One line naming unknown RLlib hyperparameters, or None; imports RLlib's config classes, starts no Ray."""
        from ray.rllib.algorithms.appo import APPOConfig
        from ray.rllib.algorithms.dqn import DQNConfig
        from ray.rllib.algorithms.ppo import PPOConfig

        config = {"ppo": PPOConfig, "appo": APPOConfig, "dqn": DQNConfig}[params["algo"]]()
        return (_unknown_hyperparameters(params["algo"], config, hyperparameters)
                or _bad_hyperparameter_values(params["algo"], config, hyperparameters))

    @classmethod
    def create(cls, params: Mapping[str, Any], *, env: str, table: Mapping[str, float],
               hyperparameters: Mapping[str, Any], hidden: tuple[int, ...], seed: int,
               resources: Mapping[str, Any]) -> Session:
        """The league scheduler's entry point (it knows the algorithm only through its registration)."""
        return cls(TrainSpec(env=env, algo=params["algo"], table=table, hyperparameters=hyperparameters,
                             hidden=tuple(hidden), seed=seed, resources=Resources(**resources)))

    @staticmethod
    def check_external(params: Mapping[str, Any], hyperparameters: Mapping[str, Any]) -> str | None:
        """What keeps this learner from training on external simulators, in one line, or None; starts nothing."""
        if params["algo"] != "ppo":
            return f"--external trains ppo on RLlib's server EnvRunner; {params['algo']} is not wired to it."
        own = sorted(set(hyperparameters) & ENV_HYPERPARAMETERS)
        if own:
            return (f"--hp {', '.join(own)}: Arena's own settings for its env or its anchored learner, which "
                    "--external does not take.")
        return None

    @classmethod
    def create_external(cls, params: Mapping[str, Any], *, env: str, host: str, port: int,
                        hyperparameters: Mapping[str, Any], hidden: tuple[int, ...], seed: int,
                        resources: Mapping[str, Any]) -> Session:
        """`arena train --external`: PPO on the episodes of simulators that connect to host:port over TCP
        (arena.protocols.ExternalLearner; plugins/rllib_external.py)."""
        problem = cls.check_external(params, hyperparameters)
        if problem:
            from arena.errors import UsageError

            raise UsageError(problem)
        from .rllib_external import ExternalSession

        return ExternalSession.create_external(params, env=env, host=host, port=port,
                                               hyperparameters=hyperparameters, hidden=hidden, seed=seed,
                                               resources=resources)

    def save(self, path: Any) -> None:
        """A full RLlib checkpoint (module, optimizer, connectors) to resume training from."""
        import json
        from pathlib import Path

        self.algo.save_to_path(str(Path(path).resolve()))  # RLlib wants an absolute path
        (Path(path) / "arena.json").write_text(json.dumps({"iteration": self.iteration, "env_steps": self.env_steps,
                                                            "anchor": self.anchor}))

    def load(self, path: Any) -> None:
        """Resume from a checkpoint written by save()."""
        import json
        from pathlib import Path

        self.algo.restore_from_path(str(Path(path).resolve()))
        counters = json.loads((Path(path) / "arena.json").read_text())
        self.iteration, self.env_steps = int(counters["iteration"]), int(counters["env_steps"])
        if counters.get("anchor"):  # the KL penalty's reference is no part of RLlib's checkpoint
            from . import snapshot

            meta, net = snapshot.load(Path(counters["anchor"]))
            self._set_anchor(counters["anchor"], meta, net)

    def train(self) -> dict[str, Any]:
        """One RLlib iteration; returns steps sampled and the learner's (opponent -> scores) since the last call,
        and in a one-seat game its episode returns."""
        result = self.algo.train()
        self.iteration += 1
        sampled = float(result["env_runners"].get("num_env_steps_sampled", 0) or 0)
        self.env_steps += int(sampled) if sampled == sampled else 0  # NaN when a crashed EnvRunner returned nothing
        outcomes: dict[str, list[float]] = {}
        returns: list[float] = []
        for per_runner in self._foreach_env(lambda env: (env.take_outcomes(), env.take_returns())):
            for opponent, score in per_runner[0]:
                outcomes.setdefault(opponent, []).append(score)
            returns += per_runner[1]
        out = {"iteration": self.iteration, "outcomes": outcomes, "env_steps": self.env_steps,
               "illegal_actions": self.illegal_actions()}
        return {**out, "returns": returns} if info_cooperative(self.spec) else out

    def _runner_nodes(self) -> list[str]:
        """The IP of the Ray node of each remote EnvRunner, for the league's log."""
        import ray

        group = getattr(self.algo, "env_runner_group", None)
        if group is None:
            return []
        return [ip for ip in group.foreach_env_runner(lambda runner: ray.util.get_node_ip_address(),
                                                      local_env_runner=False) if ip]

    def set_table(self, table: Mapping[str, float]) -> None:
        """Change whom the learner meets, in every env of every EnvRunner, without restarting anything."""
        table, packed = dict(table), pack(table)  # the snapshots, for EnvRunners on other nodes of a cluster

        def change(env: Any) -> None:
            unpack(packed)
            env.set_table(table)

        self._foreach_env(change)

    def snapshot(self, name: str, *, parent: str | None = None, directory: Any = None) -> Any:
        """Freeze the learner's current policy as snapshots/NAME (weights + metadata); returns the folder."""
        from pathlib import Path

        import torch

        from . import snapshot

        module = self.module()
        hidden = list(self.spec.hidden)
        # the learner's modules: the EnvRunners' copies are inference-only and never receive the critic's updates
        ids = [self.module_id] + self.modules[1:]
        states = self.algo.learner_group.get_weights(module_ids=ids)
        nets = [snapshot.actor_state_dict({k: torch.as_tensor(v) for k, v in states[m].items()}, hidden,
                                          SNAPSHOT_LAYERS[self.spec.algo]) for m in ids]
        state = {k: torch.as_tensor(v) for k, v in states[self.module_id].items()}
        weights = nets[0]
        value_layers = VALUE_LAYERS.get(self.spec.algo) if len(ids) == 1 else None  # search needs one value head
        value = snapshot.actor_state_dict(state, hidden, value_layers) if value_layers else None
        # several modules (sharing by team or by agent): one network per module, and which plays which seat
        # (or seats it never plays: a learner bound to one team)
        several = {"modules": self.modules, "seat_nets": [None if m is None else self.modules.index(m)
                                                          for m in self.seat_modules]} \
            if len(ids) > 1 or None in self.seat_modules else {}
        meta = {"env": self.env_id, "algo": self.spec.algo, **several,
                "obs_dim": obs_dim(module),
                "num_actions": int(module.action_space.n), "hidden": hidden, "activation": "tanh",
                "features": self.features, "iteration": self.iteration, "env_steps": self.env_steps, "parent": parent,
                "value": {"hidden": hidden, "activation": "tanh",
                          "gamma": float(self.algo.config.gamma)} if value else None}
        return snapshot.save(Path(directory) if directory else snapshot.snapshots_dir() / name, weights, meta, value,
                             extra=nets[1:])

    def restore(self, folder: Any) -> None:
        """Load a snapshot's policy into the learner, and its value head into the critic when it kept one (otherwise
        the critic keeps its values), then sync the runners."""
        from pathlib import Path

        import numpy as np

        from . import snapshot

        meta, net = snapshot.load(Path(folder))
        if len(self.modules) > 1 or meta.get("seat_nets"):
            raise snapshot.SnapshotError(f"Snapshot {folder}: a learner that shares by team or agent, or plays one "
                                         "team, cannot start from a snapshot yet.")
        hidden = list(self.spec.hidden)
        state = self.algo.learner_group.get_weights(module_ids=[self.module_id])[self.module_id]
        if list(meta["hidden"]) != hidden:
            raise snapshot.SnapshotError(f"Snapshot {folder} has hidden layers {meta['hidden']}, this learner {hidden}.")
        if meta.get("features", 1) != self.features:
            raise snapshot.SnapshotError(f"Snapshot {folder} sees features {meta.get('features', 1)}, this learner "
                                         f"{self.features}; it plays, but cannot seed this learner.")
        parts = [(net, SNAPSHOT_LAYERS[self.spec.algo])]
        value_net = snapshot.load_value(Path(folder), meta)
        if value_net is not None and self.spec.algo in VALUE_LAYERS and list(meta["value"]["hidden"]) == hidden:
            parts.append((value_net, VALUE_LAYERS[self.spec.algo]))
        for part, layers in parts:
            mapped = snapshot.actor_state_dict({k: k for k in state}, hidden, layers)  # snapshot layer -> module key
            for layer, key in mapped.items():
                value = part.state_dict()[layer].numpy()
                if np.shape(state[key]) != value.shape:
                    raise snapshot.SnapshotError(f"Snapshot {folder} does not fit this learner ({key}).")
                state[key] = value
        self.algo.learner_group.set_weights({self.module_id: state})
        self._set_anchor(str(Path(folder).resolve()), meta, net)
        # EnvRunners skip weights whose sequence number is not newer than theirs; a state without one is forced.
        from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

        from ray.rllib.utils.metrics import WEIGHTS_SEQ_NO

        pushed = self.algo.learner_group.get_state(components=[f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}"],
                                                   inference_only=True)[COMPONENT_LEARNER]
        pushed.pop(WEIGHTS_SEQ_NO, None)
        self.algo.env_runner_group.foreach_env_runner(lambda runner: runner.set_state(pushed), local_env_runner=True)

    def _set_anchor(self, folder: str, meta: Mapping[str, Any], net: Any) -> None:
        """With anchor > 0: give the learners this snapshot's policy as the KL penalty's reference."""
        if float(self.spec.hyperparameters.get("anchor", 0.0)) <= 0:
            return
        weights = {k: v.numpy() for k, v in net.state_dict().items()}
        self.algo.learner_group.foreach_learner(lambda learner: learner.set_anchor(meta, weights))
        self.anchor = folder

    def illegal_actions(self) -> int:
        return sum(self._foreach_env(lambda env: env.illegal_actions))

    def module(self) -> Any:
        return self.algo.get_module(self.module_id)

    def _foreach_env(self, fn: Any) -> list[Any]:
        def per_runner(runner: Any) -> list[Any]:
            env = getattr(runner, "env", None)  # the local runner has no env when remote EnvRunners sample
            if env is None:
                return []
            envs = getattr(env, "envs", None) or env.unwrapped.envs  # gymnasium's vector env is wrapped
            return [fn(e.unwrapped) for e in envs]

        results = self.algo.env_runner_group.foreach_env_runner(per_runner, local_env_runner=True)
        return [x for batch in results for x in batch]

    def stop(self) -> None:
        self.algo.stop()


@hookimpl
def register_algorithms(register):
    register("ppo", "arena.plugins.rllib_algorithms:Session", params={"algo": "ppo"},
             description="PPO (RLlib new API stack) with action masking.")
    register("appo", "arena.plugins.rllib_algorithms:Session", params={"algo": "appo"},
             description="APPO, asynchronous high-throughput PPO (RLlib new API stack) with action masking.")
    register("dqn", "arena.plugins.rllib_algorithms:Session", params={"algo": "dqn"},
             description="DQN (double, dueling; RLlib new API stack) with masked Q-values and exploration.")
