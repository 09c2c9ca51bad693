"""Offline data from the store: generate games worth imitating, and export stored games as RLlib offline data
(Parquet, column format). Reading a dataset back and cloning it into a snapshot is arena/services/cloning.py.

`arena dataset generate|export`, and the league scheduler call these; the format is described in docs/datasets.md.
Nothing here imports Ray or torch.
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import ArenaError, UnknownIdError, UsageError
from arena.features import LOOKAHEAD, feature_dim, features, lookahead_error, lookahead_unavailable, version_for
from arena.match import game_seed, play_game
from arena.policy import BoundPolicy
from arena.services.progress import SILENT, Progress

DATASET_EVENT = "dataset"  # the event tag of games `generate` stores (part of their match ids)
FORMAT = "arena-rllib-columns"  # what the `arena` entry of every file's schema metadata describes
VERSION = 1
META_KEY = b"arena"
SIDECAR = "dataset.json"
FOLDS = 10  # games are split by a hash of their match id into this many folds, one set of files each
ROWS_PER_FILE = 500_000  # a fold's file rolls over to the next part after this many rows
ROW_GROUP = 8_192  # rows buffered per fold before they are written as one row group
# The columns RLlib's offline API reads (its default input_read_schema), and Arena's own.
RLLIB_COLUMNS = ("eps_id", "obs", "actions", "rewards", "new_obs", "terminateds", "truncateds", "t")
ARENA_COLUMNS = ("match_id", "seat", "player", "ply", "outcome", "to_end", "fold")
TEACHER_COLUMN = "action_probs"  # a teacher's move probabilities per row (export --teacher): soft targets for BC
VALUE_COLUMN = "teacher_value"  # and its value of the position for the mover, where the teacher gives one


class DatasetError(UsageError):
    """A dataset that cannot be used: missing, empty, not Parquet, not Arena's, or made for another game."""


# -- generate ----------------------------------------------------------------------------------------------------------
def generate(registry: Any, store: Any, *, env: str, players: Sequence[str], games: int, workers: int = 1,
             seed: int | None = None, openings: str | None = None, move_timeout: float | None = None,
             progress: Progress = SILENT) -> dict[str, Any]:
    """Play `games` games for every pair of `players` (seats swapped between games) on `workers` workers, and store
    them with their moves (event "dataset"), rated as they finish; returns a summary.

    Uses the head-to-head service, one match per pair: pair k plays from seed `seed` (pair 0) or game_seed(seed, -k),
    so the same call stores the same games (match ids), and a rerun stores only what is missing. `openings`
    (arena.openings, e.g. "random:plies=4") gives deterministic players distinct games.
    """
    from arena.services.headtohead import HeadToHead, head_to_head

    if len(players) < 2 or len(set(players)) < len(players):
        raise UsageError(f"dataset generate needs two or more different players, got {', '.join(players) or 'none'}.")
    if games < 1:
        raise UsageError("--games must be at least 1.")
    game = registry.make_game(env)
    info = game.info
    game.close()
    if info.num_seats != 2:
        raise UsageError(f"dataset generate plays two-seat games; {info.env_id} has {info.num_seats} seats.")
    for spec in players:
        registry.make_policy(spec).check(info)
    seed = random.randrange(2**31) if seed is None else seed
    started = time.monotonic()
    pairs = []
    for k, pair in enumerate(combinations(players, 2)):
        request = HeadToHead(info.env_id, pair, games=games, seed=seed if k == 0 else game_seed(seed, -k) >> 32,
                             workers=workers, record_moves=True, event=DATASET_EVENT, openings=openings,
                             move_timeout=move_timeout)
        progress.say(f"{pair[0]} vs {pair[1]}: {games} games on {workers} worker(s)")
        report = head_to_head(registry, request, store=store, progress=progress, catch_interrupt=False)
        first = report["standings"][0]
        pairs.append({"players": list(report["participants"]), "seed": report["seed"], "games": report["games_played"],
                      "stored_new": report["stored"]["new"], "already_stored": report["stored"]["already_stored"],
                      "errors": len(report["errors"]), "forfeits": len(report["forfeits"]),
                      "score": first["score"]})
    return {"env": info.env_id, "seed": seed, "event": DATASET_EVENT, "games": sum(p["games"] for p in pairs),
            "stored_new": sum(p["stored_new"] for p in pairs), "pairs": pairs, "db": str(store.path),
            "seconds": round(time.monotonic() - started, 2)}


# -- export ------------------------------------------------------------------------------------------------------------
class _Script:
    """Replays a stored game as every seat's policy: returns the stored moves in order, and keeps what the seats in
    `wanted` saw and did (features, mask, action, ply, and the teacher's move probabilities when there is one)."""

    def __init__(self, info: Any, version: int, teacher: BoundPolicy | None = None):
        self.info, self.version, self.teacher = info, version, teacher
        self.probabilities = teacher.probabilities_call if teacher is not None else None
        self.value = teacher.value_call if teacher is not None else None
        self.start(info, (), 0, set(), 0)

    def start(self, info: Any, moves: Sequence[tuple[int, int]], start: int, wanted: set[int], seed: int) -> None:
        """Replay these moves next (from index `start`, after the opening), keeping the steps of `wanted`."""
        self.info, self.moves, self.cursor, self.wanted = info, moves, start, wanted
        self.steps: dict[int, list[tuple[Any, ...]]] = {s: [] for s in wanted}
        self.rng = np.random.default_rng(seed)  # the teacher's: the same game gets the same labels
        self._reset_teacher = self.teacher is not None and self.teacher.resets

    def act(self, observation: Any, action_mask: Any, history: Sequence[tuple[int, int]], seat: int,
            state: Any) -> int:
        if self.cursor >= len(self.moves):
            raise ValueError("the stored moves ran out before the game ended")
        mover, action = self.moves[self.cursor]
        if mover != seat:
            raise ValueError(f"move {self.cursor + 1} was stored for seat {mover}, but seat {seat} is to move")
        if seat in self.wanted:
            mask = np.asarray(action_mask, dtype=np.float32)
            step = [features(self.info, observation, history, seat, self.version,
                             state if self.version >= LOOKAHEAD else None), mask, action, self.cursor]
            if self.probabilities is not None:
                step.extend(self._label(observation, mask, history, seat, state))
            self.steps[seat].append(tuple(step))
        self.cursor += 1
        return action

    def _label(self, observation: Any, mask: np.ndarray, history: Sequence[tuple[int, int]], seat: int,
               state: Any) -> tuple[np.ndarray, float]:
        """The teacher's move probabilities here (zero on illegal moves, summing to 1), and its value of the
        position for the mover (NaN when it gives none)."""
        args = {"observation": observation, "action_mask": mask, "legal_actions": np.flatnonzero(mask).tolist(),
                "state": state, "seat": seat, "rng": self.rng, "history": tuple(history), "game": self.info}
        getter = lambda name: (lambda: args[name])  # noqa: E731
        if self._reset_teacher:  # once per game, on the first position labelled
            self.teacher.bind(getter)[1]()
            self._reset_teacher = False
        p = np.asarray(self.probabilities.bind(getter)(), dtype=np.float64).reshape(-1) * mask
        if p.shape != mask.shape or not np.isfinite(p).all() or p.sum() <= 0:
            raise ValueError(f"the teacher {self.teacher.player_id} gave no probabilities over the legal moves")
        value = float(self.value.bind(getter)()) if self.value is not None else float("nan")
        if not (np.isnan(value) or -1.0 <= value <= 1.0):
            raise ValueError(f"the teacher {self.teacher.player_id} gave a value outside [-1, 1]: {value}")
        return (p / p.sum()).astype(np.float32), value


def fold_of(match_id: str) -> int:
    """The fold of a game, from its match id (hex): the same game always lands in the same fold."""
    try:
        return int(match_id[:8], 16) % FOLDS
    except ValueError:
        return sum(match_id.encode()) % FOLDS


class _Writer:
    """Rows of one dataset, buffered per fold and written as Parquet row groups (fold F: part-fF-NNNNN.parquet)."""

    def __init__(self, out: Path, meta: Mapping[str, Any]):
        import pyarrow as pa

        self.out, self.meta = out, dict(meta)
        d, a = int(meta["obs_dim"]), int(meta["num_actions"])
        obs_type = pa.struct([("observations", pa.list_(pa.float32(), d)), ("action_mask", pa.list_(pa.float32(), a))])
        self.fields = [("eps_id", pa.string()), ("obs", obs_type), ("actions", pa.int64()), ("rewards", pa.float32()),
                       ("new_obs", obs_type), ("terminateds", pa.bool_()), ("truncateds", pa.bool_()),
                       ("t", pa.int32()), ("match_id", pa.string()), ("seat", pa.int16()), ("player", pa.string()),
                       ("ply", pa.int32()), ("outcome", pa.float32()), ("to_end", pa.int32()), ("fold", pa.int8())]
        if meta.get("teacher"):
            self.fields += [(TEACHER_COLUMN, pa.list_(pa.float32(), a)), (VALUE_COLUMN, pa.float32())]
        self.buffers: dict[int, list[dict[str, Any]]] = {}
        self.writers: dict[int, Any] = {}
        self.rows_in_file: dict[int, int] = {}
        self.parts: dict[int, int] = {}
        self.files: list[Path] = []
        self.rows = 0

    def add(self, fold: int, episode: dict[str, Any]) -> None:
        self.buffers.setdefault(fold, []).append(episode)
        if sum(len(e["actions"]) for e in self.buffers[fold]) >= ROW_GROUP:
            self._flush(fold)

    def _flush(self, fold: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        episodes = self.buffers.pop(fold, [])
        if not episodes:
            return
        cols = {k: np.concatenate([e[k] for e in episodes]) for k, v in episodes[0].items() if isinstance(v, np.ndarray)}
        n = len(cols["actions"])
        strings = {k: [v for e in episodes for v in [e[k]] * len(e["actions"])] for k in ("match_id", "player")}
        eps_ids = [f"{e['match_id']}-{e['seat']}" for e in episodes for _ in range(len(e["actions"]))]
        schema = pa.schema([pa.field(k, t) for k, t in self.fields],
                           metadata={META_KEY: json.dumps({**self.meta, "fold": fold}).encode()})

        def struct(x: np.ndarray, m: np.ndarray) -> Any:
            return pa.StructArray.from_arrays(
                [pa.FixedSizeListArray.from_arrays(pa.array(x.ravel(), pa.float32()), x.shape[1]),
                 pa.FixedSizeListArray.from_arrays(pa.array(m.ravel(), pa.float32()), m.shape[1])],
                fields=list(schema.field("obs").type))

        table = pa.Table.from_arrays([
            pa.array(eps_ids, pa.string()), struct(cols["obs"], cols["mask"]), pa.array(cols["actions"], pa.int64()),
            pa.array(cols["rewards"], pa.float32()), struct(cols["new_obs"], cols["new_mask"]),
            pa.array(cols["terminateds"], pa.bool_()), pa.array(np.zeros(n, bool), pa.bool_()),
            pa.array(cols["t"], pa.int32()), pa.array(strings["match_id"], pa.string()),
            pa.array(np.repeat([e["seat"] for e in episodes], [len(e["actions"]) for e in episodes]), pa.int16()),
            pa.array(strings["player"], pa.string()), pa.array(cols["ply"], pa.int32()),
            pa.array(cols["outcome"], pa.float32()), pa.array(cols["to_end"], pa.int32()),
            pa.array(np.full(n, fold), pa.int8()),
            *([pa.FixedSizeListArray.from_arrays(pa.array(cols["probs"].ravel(), pa.float32()), cols["probs"].shape[1]),
               pa.array(cols["value"], pa.float32())] if "probs" in cols else [])], schema=schema)
        if fold in self.writers and self.rows_in_file[fold] >= ROWS_PER_FILE:
            self.writers.pop(fold).close()
        if fold not in self.writers:
            part = self.parts[fold] = self.parts.get(fold, -1) + 1
            path = self.out / f"part-f{fold}-{part:05d}.parquet"
            self.writers[fold] = pq.ParquetWriter(path, schema, compression="zstd")
            self.rows_in_file[fold] = 0
            self.files.append(path)
        self.writers[fold].write_table(table)
        self.rows_in_file[fold] += n
        self.rows += n

    def close(self) -> None:
        for fold in list(self.buffers):
            self._flush(fold)
        for writer in self.writers.values():
            writer.close()


def _episode(game: Any, stored: Any, seat: int, steps: list[tuple[Any, ...]], info: Any,
             version: int) -> dict[str, Any]:
    """One seat's decisions in one game as an RLlib single-agent episode (columns as numpy arrays)."""
    obs = np.stack([s[0] for s in steps])
    mask = np.stack([s[1] for s in steps])
    try:  # what the seat sees once the game is over: the final next observation
        last = features(info, game.observation(seat), [], seat, version,
                        game.native_state() if version >= LOOKAHEAD else None)
        last_mask = np.asarray(game.action_mask(seat), dtype=np.float32)
    except Exception:  # an adapter that cannot observe a finished game: repeat the last one (RLlib does the same)
        last, last_mask = obs[-1], np.zeros_like(mask[-1])
    k = len(steps)
    info_seat = stored.seats[seat]
    outcome = 2.0 * info_seat.score - 1.0
    reward = float(info_seat.ret) if info_seat.ret is not None else outcome
    rewards = np.zeros(k, np.float32)
    rewards[-1] = reward
    return {"obs": obs, "mask": mask, "new_obs": np.concatenate([obs[1:], last[None]]),
            "new_mask": np.concatenate([mask[1:], last_mask[None]]), "actions": np.array([s[2] for s in steps]),
            "rewards": rewards, "terminateds": np.arange(k) == k - 1, "t": np.arange(k),
            "ply": np.array([s[3] for s in steps]), "outcome": np.full(k, outcome, np.float32),
            "to_end": np.arange(k)[::-1].copy(), "match_id": stored.id, "seat": seat, "player": info_seat.player,
            **({"probs": np.stack([s[4] for s in steps]), "value": np.array([s[5] for s in steps], np.float32)}
               if len(steps[0]) > 4 else {})}


def export(registry: Any, store: Any, *, env: str, out: str | Path, players: Sequence[str] | None = None,
           league: str | None = None, overwrite: bool = False, lookahead: bool | int = False, teacher: str | None = None,
           workers: int = 1, progress: Progress = SILENT) -> dict[str, Any]:
    """Write the stored games of `env` as RLlib offline data in folder `out`; returns a summary.

    Each game is replayed from its seed, opening and moves through the match runner, and every seat's decisions
    become one single-agent episode (the masked Dict observation, the stored action, the outcome as the last
    reward). `players`: only the seats those players sat in (their moves are the behaviour to clone); default all.
    `league`: only that league's games. Skipped, with counts: games stored without moves, replays of an identical
    earlier game, and games whose moves do not replay (an illegal move, a different outcome).

    `lookahead`: the features carry the tactical lookahead (arena.features: true or 1, version 3; 3, the threats
    within three plies, version 4), as a learner with that `lookahead` setting sees them. `teacher`: a policy with
    `action_probabilities` (mcts: its visit counts) labels every exported position with its move probabilities,
    column `action_probs`, which behaviour cloning then imitates instead of the stored move. `workers` > 1 exports
    the folds in that many processes (labelling by search is the slow part).
    """
    from arena.store import leagues, resolve_env

    pyarrow_or_fail()
    if workers < 1:
        raise UsageError("--workers must be at least 1.")
    env_id = resolve_env(store, env)
    wanted = [_resolve_player(registry, store, p) for p in players or ()]
    if league is not None and leagues.get(store, league) is None:
        raise UnknownIdError("league", league, leagues.names(store), f"arena league list --db {store.path}",
                             where=str(store.path), listing="to list its leagues")
    game = registry.make_game(env_id)
    info = game.info
    game.close()
    if lookahead_error(lookahead):
        raise UsageError(f"--{lookahead_error(lookahead)}")
    version = version_for(lookahead)
    if feature_dim(info) < 0:
        raise UsageError(f"{info.env_id} has no observation space, so it has no features to learn from.")
    if lookahead and lookahead_unavailable(info):
        raise UsageError(f"--lookahead: {lookahead_unavailable(info)}.")
    if teacher is not None:
        _teacher(registry, teacher, info)  # checked here, in one line, before anything is written
    folder = _prepare(Path(out), overwrite)
    meta = {"format": FORMAT, "version": VERSION, "env": info.env_id, "obs_dim": feature_dim(info, version),
            "num_actions": info.num_actions, "features": version, "num_seats": info.num_seats,
            **({"teacher": teacher} if teacher else {})}
    job = _ExportJob(str(store.path), env_id, str(folder), tuple(wanted), league, meta, teacher)
    started = time.monotonic()
    progress.start(f"export {info.env_id}", count_games_of(store, env_id, league, wanted))
    try:
        if workers == 1:
            parts = [_export_folds(job, None, registry, store, progress)]
        else:
            parts = _export_in_processes(job, workers, progress)
    finally:
        progress.finish()
    counts = {k: sum(p["counts"][k] for p in parts) for k in parts[0]["counts"]}
    summary = {**meta, "rows": sum(p["rows"] for p in parts), **counts,
               "unreplayable_reasons": _summed(p["reasons"] for p in parts),
               "rows_by_player": _summed(p["by_player"] for p in parts),
               "files": sorted(f for p in parts for f in p["files"]),
               "source": {"db": str(store.path), "players": wanted or None, "league": league},
               "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (folder / SIDECAR).write_text(json.dumps(summary, indent=2))
    seconds = time.monotonic() - started
    return {**summary, "out": str(folder), "seconds": round(seconds, 2), "workers": workers,
            "rows_per_s": round(summary["rows"] / seconds, 1) if seconds > 0 else None}


@dataclass(frozen=True)
class _ExportJob:
    """What every export process needs to write its folds (plain values: it crosses to spawned processes)."""

    db: str
    env_id: str
    folder: str
    wanted: tuple[str, ...]
    league: str | None
    meta: Mapping[str, Any]
    teacher: str | None


def _teacher(registry: Any, spec: str, info: Any) -> BoundPolicy:
    policy = registry.make_policy(spec)
    if policy.probabilities_call is None:
        raise UsageError(f"--teacher {spec} gives no move probabilities (a teacher needs action_probabilities; "
                         "mcts has them).")
    policy.check(info)
    return policy


def count_games_of(store: Any, env_id: str, league: str | None, wanted: Sequence[str]) -> int:
    from arena.store.games import count_games

    return count_games(store, env_id, event=league, players=wanted)


def _summed(dicts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, n in d.items():
            out[k] = out.get(k, 0) + n
    return out


def _export_folds(job: _ExportJob, folds: set[int] | None, registry: Any, store: Any,
                  progress: Progress = SILENT) -> dict[str, Any]:
    """Replay and write the games of `folds` (all when None): counts, rows by player, files."""
    from arena.store.games import games

    game = registry.make_game(job.env_id)
    info = game.info
    version = int(job.meta["features"])
    counts = {"games": 0, "episodes": 0, "no_moves": 0, "replays": 0, "unreplayable": 0}
    by_player: dict[str, int] = {}
    reasons: dict[str, int] = {}
    writer = _Writer(Path(job.folder), job.meta)
    script = _Script(info, version, _teacher(registry, job.teacher, info) if job.teacher else None)
    seats_by_player: dict[str, BoundPolicy] = {}  # replays every game; one bound policy per player
    try:
        for stored in games(store, job.env_id, event=job.league, players=job.wanted):
            fold = fold_of(stored.id)
            if folds is not None and fold not in folds:
                continue
            progress.advance()
            if stored.moves is None:
                counts["no_moves"] += 1
                continue
            if stored.replay_of is not None:
                counts["replays"] += 1
                continue
            seats = {s for s, seat in enumerate(stored.seats) if not job.wanted or seat.player in job.wanted}
            policies = [seats_by_player.get(seat.player) or seats_by_player.setdefault(
                seat.player, BoundPolicy(seat.player, script)) for seat in stored.seats]
            why = _replay(game, stored, seats, info, script, policies)
            if isinstance(why, str):
                counts["unreplayable"] += 1
                reasons[why] = reasons.get(why, 0) + 1
                continue
            counts["games"] += 1
            for seat, steps in sorted(why.steps.items()):
                if steps:
                    writer.add(fold, _episode(game, stored, seat, steps, info, version))
                    counts["episodes"] += 1
                    player = stored.seats[seat].player
                    by_player[player] = by_player.get(player, 0) + len(steps)
    finally:
        writer.close()
        game.close()
    return {"counts": counts, "by_player": by_player, "reasons": reasons, "rows": writer.rows,
            "files": [p.name for p in writer.files]}


def _export_worker(job: _ExportJob, fold: int) -> dict[str, Any]:
    """One fold, in a spawned process: its own registry and a read-only connection to the store."""
    from arena.registry import Registry
    from arena.services.recording import open_store

    with open_store(job.db, readonly=True) as store:
        return _export_folds(job, {fold}, Registry(), store)


def _export_in_processes(job: _ExportJob, workers: int, progress: Progress) -> list[dict[str, Any]]:
    """The folds on `workers` spawned processes, a fold at a time; progress advances as folds finish."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    parts = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_export_worker, job, fold) for fold in range(FOLDS)}
        for future in as_completed(futures):
            part = future.result()
            parts.append(part)
            progress.advance(sum(part["counts"].values()) - part["counts"]["episodes"])
    return parts


def _resolve_player(registry: Any, store: Any, player: str) -> str:
    from arena.store import resolve_player

    try:
        return resolve_player(store, player)
    except UnknownIdError:
        try:
            canonical = registry.player_id(player)  # "mcts" as stored: its canonical id
        except ArenaError:
            canonical = None
        if canonical is None or canonical == player:
            raise
        return resolve_player(store, canonical)


def _prepare(folder: Path, overwrite: bool) -> Path:
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"--out {folder} is a file; give a folder for the dataset.")
    old = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if old and not overwrite:
        raise DatasetError(f"--out {folder} holds a dataset already ({len(old)} Parquet files); give an empty folder, "
                           "or --overwrite to replace it.")
    folder.mkdir(parents=True, exist_ok=True)
    for path in old + ([folder / SIDECAR] if (folder / SIDECAR).exists() else []):
        path.unlink()
    return folder


def _replay(game: Any, stored: Any, seats: set[int], info: Any, script: _Script,
            policies: Sequence[BoundPolicy]) -> _Script | str:
    """Replay one stored game with `script` in every seat, keeping the steps of `seats`; the script, or why the game
    does not replay."""
    moves, opening = stored.moves, stored.opening
    if len(stored.seats) != info.num_seats:
        return "seats differ from the game's"
    if tuple(a for _, a in moves[: len(opening)]) != opening:
        return "moves do not start with the opening"
    script.start(info, moves, len(opening), seats, stored.seed)
    try:
        result = play_game(game, policies, stored.seed, opening=opening)
    except ArenaError as e:
        return f"{type(e).__name__}"
    if result.error:
        return "the game failed on replay"
    if result.forfeits:
        reason = next(iter(result.forfeits.values()))
        if "the teacher" in reason:
            return reason[:200]
        return "illegal move on replay" if reason.startswith("illegal action") else "moves do not replay"
    if script.cursor != len(moves):
        return "the game ended before its stored moves did"
    if any(abs(result.score(s) - seat.score) > 1e-9 for s, seat in enumerate(stored.seats)):
        return "the replay ends with another outcome"
    return script


def pyarrow_or_fail() -> None:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageError("Datasets are Parquet files, which need pyarrow: pip install 'arena[train]'.") from None
