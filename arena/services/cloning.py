"""Datasets read back and cloned: check an exported folder fits a game (one line before Ray starts), load its
columns, and clone its behaviour into an ordinary snapshot with a value head.

`arena dataset info`, `arena train --algo bc` and the league scheduler call these; the cloning itself is an offline
algorithm plugin (built in: `bc`, arena/plugins/rllib_offline.py), reached through the registry. Nothing here imports
Ray or torch.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import ParameterError, UsageError
from arena.features import FEATURES, LOOKAHEAD, THREATS, feature_dim, lookahead_unavailable
from arena.ids import base_name, family
from arena.services.dataset import (ARENA_COLUMNS, FOLDS, FORMAT, META_KEY, RLLIB_COLUMNS, SIDECAR, VERSION,
                                    DatasetError, pyarrow_or_fail)
from arena.services.progress import SILENT, Progress


# -- reading a dataset back --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """A dataset folder as read from its files' metadata: what game it is for and which file holds which fold."""

    path: Path
    env: str
    obs_dim: int
    num_actions: int
    features: int
    files: tuple[Path, ...]
    folds: tuple[int, ...]  # the fold of each file
    rows: tuple[int, ...]  # the rows of each file
    players: Mapping[str, int] = field(default_factory=dict)  # rows by player, from the sidecar when present
    teacher: str | None = None  # the policy whose move probabilities label every row (column action_probs)

    def split(self, holdout: float) -> tuple[list[Path], list[Path]]:
        """(training files, held-out files): the folds below round(holdout * FOLDS) are held out (0.1: fold 0)."""
        cut = max(0, min(FOLDS - 1, round(holdout * FOLDS)))
        train = [f for f, k in zip(self.files, self.folds) if k >= cut]
        held = [f for f, k in zip(self.files, self.folds) if k < cut]
        return train, held


def read(path: str | Path) -> Dataset:
    """Check a dataset folder and read its metadata (no Ray): one line for a missing or empty folder, files that are
    not Parquet, Parquet that Arena did not write, and files of different datasets mixed in one folder."""
    pyarrow_or_fail()
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(path)
    if not folder.exists():
        raise DatasetError(f"--data {folder} does not exist; write a dataset with `arena dataset export`.")
    if not folder.is_dir():
        raise DatasetError(f"--data {folder} is a file; give the folder `arena dataset export --out` wrote.")
    files = sorted(folder.glob("*.parquet"))
    if not files:
        others = [p.name for p in folder.iterdir()]
        raise DatasetError(f"--data {folder} is empty; write a dataset with `arena dataset export --out {folder}`."
                           if not others else f"--data {folder} holds no Parquet files (.parquet), only "
                           f"{', '.join(sorted(others)[:3])}{' ...' if len(others) > 3 else ''}.")
    metas, folds, rows = [], [], []
    for f in files:
        try:
            meta_file = pq.ParquetFile(f)
            schema = meta_file.schema_arrow
        except (pa.ArrowInvalid, OSError) as e:
            raise DatasetError(f"{f} is not a Parquet file ({str(e).splitlines()[0][:80]}).") from None
        raw = (schema.metadata or {}).get(META_KEY)
        try:
            meta = json.loads(raw) if raw else None
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DatasetError(f"{f} is Parquet but not an Arena dataset (no '{META_KEY.decode()}' schema metadata); "
                               "write one with `arena dataset export`.")
        missing = [c for c in RLLIB_COLUMNS + ARENA_COLUMNS if c not in schema.names]
        if missing:
            raise DatasetError(f"{f} lacks the columns {', '.join(missing)}; export the dataset again.")
        folds.append(int(meta.pop("fold", 0)))
        metas.append(meta)
        rows.append(meta_file.metadata.num_rows)
    first = metas[0]
    keys = ("env", "obs_dim", "num_actions", "features", "version", "teacher")
    for f, meta in zip(files, metas):
        if any(meta.get(k) != first.get(k) for k in keys):
            raise DatasetError(f"{folder} mixes datasets: {files[0].name} is {_describe(first)}, {f.name} is "
                               f"{_describe(meta)}; keep one export per folder.")
    if first.get("version") != VERSION:
        raise DatasetError(f"{folder} was written in dataset format {first.get('version')}, this Arena reads "
                           f"{VERSION}; export it again.")
    players: dict[str, int] = {}
    sidecar = folder / SIDECAR
    if sidecar.is_file():
        try:
            players = dict(json.loads(sidecar.read_text()).get("rows_by_player") or {})
        except ValueError:
            players = {}
    return Dataset(folder, str(first["env"]), int(first["obs_dim"]), int(first["num_actions"]),
                   int(first["features"]), tuple(files), tuple(folds), tuple(rows), players, first.get("teacher"))


def _describe(meta: Mapping[str, Any]) -> str:
    return f"{meta.get('env')} ({meta.get('obs_dim')} features, {meta.get('num_actions')} actions)"


def check_fits(data: Dataset, info: Any) -> None:
    """Refuse, in one line, a dataset made for another game or with other observation or action sizes."""
    if family(data.env) != family(info.env_id):
        raise DatasetError(f"The data in {data.path} is from {data.env}, not {info.env_id}; export {info.env_id}'s "
                           "games, or train on the game the data is from.")
    if data.features not in (FEATURES, LOOKAHEAD, THREATS):
        raise DatasetError(f"The data in {data.path} uses feature encoding {data.features}, this Arena {FEATURES}, "
                           f"{LOOKAHEAD} or {THREATS}; export it again.")
    if data.features >= LOOKAHEAD and lookahead_unavailable(info):
        raise DatasetError(f"The data in {data.path} has lookahead features, but {lookahead_unavailable(info)}.")
    if data.obs_dim != feature_dim(info, data.features) or data.num_actions != info.num_actions:
        raise DatasetError(f"The data in {data.path} has {data.obs_dim} features and {data.num_actions} actions, "
                           f"{info.env_id} {feature_dim(info, data.features)} and {info.num_actions}; export "
                           f"{info.env_id}'s games again.")


def load_columns(files: Iterable[Path], obs_dim: int, num_actions: int) -> dict[str, np.ndarray]:
    """Features, masks, actions, outcomes and steps-to-end of the rows in `files`, and the teacher's values where the
    dataset has them (NaN elsewhere), as numpy arrays (plain pyarrow, for held-out accuracy and the value head)."""
    import pyarrow.parquet as pq

    from arena.services.dataset import VALUE_COLUMN

    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "mask", "actions", "outcome", "to_end", "value")}
    for f in files:
        has_value = VALUE_COLUMN in pq.ParquetFile(f).schema_arrow.names
        table = pq.read_table(f, columns=["obs", "actions", "outcome", "to_end", *([VALUE_COLUMN] if has_value else [])])
        if table.num_rows == 0:
            continue
        parts["value"].append(table.column(VALUE_COLUMN).to_numpy().astype(np.float32) if has_value
                              else np.full(table.num_rows, np.nan, np.float32))
        obs = table.column("obs").combine_chunks()
        parts["x"].append(obs.field("observations").flatten().to_numpy().reshape(-1, obs_dim))
        parts["mask"].append(obs.field("action_mask").flatten().to_numpy().reshape(-1, num_actions))
        for name in ("actions", "outcome", "to_end"):
            parts[name].append(table.column(name).to_numpy())
    empty = {"x": (0, obs_dim), "mask": (0, num_actions)}
    return {k: np.concatenate(v) if v else np.zeros(empty.get(k, (0,)), np.float32) for k, v in parts.items()}


# -- behaviour cloning -------------------------------------------------------------------------------------------------
def behaviour_clone(registry: Any, env: str, data_dir: str | Path, *, hidden: Sequence[int] = (128, 128),
                    seed: int = 0, name: str | None = None, snapshots_dir: str | Path = Path("snapshots"),
                    minutes: float | None = None, epochs: float | None = None, iterations: int | None = None,
                    holdout: float = 0.1,
                    algo: str = "bc", hyperparameters: Mapping[str, Any] | None = None, value_gamma: float = 1.0,
                    resources: Mapping[str, Any] | None = None, store: Any = None, opponents: Sequence[str] = (),
                    eval_games: int = 100, workers: int = 1, progress: Progress = SILENT) -> dict[str, Any]:
    """Clone the behaviour in a dataset into snapshot `name` (an ordinary snapshot with a value head); returns a
    summary: snapshot, folder, held_out_accuracy, train_accuracy, held_out_cross_entropy, train_cross_entropy,
    held_out_moves, train_moves, value_mse, held_out_value_mse, samples (rows trained on, epochs included),
    iterations, epochs, seconds and, with `opponents`, scores and eval_games.

    `algo` is an offline algorithm plugin (built in: "bc", RLlib's BC on the new API stack with Arena's masked
    module). Held out: the games of the folds below round(holdout * 10) (0.1: one game in ten, by match id); their
    moves give held_out_accuracy (argmax of the masked logits equals the move). Training stops after `epochs` passes
    over the training rows, `iterations` RLlib iterations or `minutes`, whichever comes first (without epochs or
    iterations: 10 epochs). The value head is fitted to the seat's final outcome (in [-1, 1]), discounted by
    value_gamma per own move left (1.0: not discounted).
    With a store, the snapshot is registered as a player; with `opponents`, it then plays `eval_games` rated games
    against each (arena.services.training.evaluate), as `snapshot/NAME`: `snapshots_dir` should then be the
    settings' snapshot folder ($ARENA_SNAPSHOTS), where players are looked up. Everything about the data and the
    names is checked before Ray starts.
    """
    from arena.learners import offline_algorithm

    game = registry.make_game(env)
    info = game.info
    game.close()
    data = read(data_dir)
    check_fits(data, info)
    train_files, held_files = data.split(holdout)
    if not train_files:
        raise DatasetError(f"--data {data.path}: every game is held out ({holdout:g}); lower the held-out share.")
    if sum(r for f, r in zip(data.files, data.rows) if f in train_files) == 0:
        raise DatasetError(f"--data {data.path} has no rows to train on; export games with their moves.")
    if any(x is not None and x <= 0 for x in (epochs, minutes, iterations)):
        raise ParameterError("epochs, iterations and minutes must be positive.")
    if not 0 <= holdout < 1:
        raise ParameterError(f"The held-out share is a fraction below 1, not {holdout:g}.")
    cls, params = offline_algorithm(registry, algo)
    problem = cls.check_hyperparameters(params, dict(hyperparameters or {}))
    if problem:
        raise ParameterError(problem)
    for spec in opponents:
        registry.make_policy(spec).check(info)
    name = name or f"{algo}-{base_name(info.env_id)}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder = Path(snapshots_dir) / name
    if (folder / "meta.json").exists():
        raise UsageError(f"Snapshot {folder} exists already; give another --name.")
    started = time.monotonic()
    progress.say(f"Cloning {data.path} ({sum(data.rows):,} moves) into snapshot/{name} with {algo}; "
                 f"{len(held_files)} of {len(data.files)} files held out.")
    result = cls.clone(params, env=info.env_id, train_files=list(train_files), held_out_files=list(held_files),
                       obs_dim=data.obs_dim, num_actions=data.num_actions, hidden=tuple(int(h) for h in hidden),
                       seed=seed, hyperparameters=dict(hyperparameters or {}), minutes=minutes,
                       epochs=10.0 if epochs is None and iterations is None else epochs, iterations=iterations,
                       value_gamma=value_gamma, features=data.features, soft_targets=data.teacher is not None,
                       folder=folder, data=str(data.path), resources=dict(resources or {}), progress=progress)
    summary = {"env": info.env_id, "algo": algo, "snapshot": f"snapshot/{name}", "folder": str(folder),
               "data": str(data.path), "features": data.features, **result, "seconds": round(time.monotonic() - started, 2)}
    if store is not None:
        store.register_player(f"snapshot/{name}", "snapshot", env=info.env_id, iteration=result.get("iterations"),
                              steps=result.get("samples"), checkpoint=str(folder))
    if opponents:
        from arena.services.training import evaluate

        summary["scores"] = evaluate(registry, info.env_id, f"snapshot/{name}", list(opponents), eval_games, seed + 1,
                                     store=store, workers=workers)
        summary["eval_games"] = eval_games
    return summary


def data_players(data: Dataset, limit: int = 3) -> list[str]:
    """The players whose moves fill most of a dataset (from its sidecar), most first: default opponents to measure a
    clone against."""
    ranked = sorted(data.players.items(), key=lambda kv: -kv[1])
    return [p for p, _ in ranked if not p.startswith("snapshot/")][:limit]
