"""Offline data from the store: generate games worth imitating, export stored games as RLlib offline data (Parquet,
column format), read a dataset back and check it fits a game, and clone its behaviour into a snapshot.

`arena dataset generate|export|info`, `arena train --algo bc` and the league scheduler call these; the format is
described in docs/datasets.md. Nothing here imports Ray or torch: the cloning itself is an offline algorithm plugin
(built in: `bc`, arena/plugins/rllib_offline.py), reached through the registry.
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from arena.errors import ArenaError, ParameterError, UnknownIdError, UsageError
from arena.features import FEATURES, feature_dim, features
from arena.ids import base_name, family
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
    `wanted` saw and did (features, mask, action, ply)."""

    def __init__(self, info: Any):
        self.info = info
        self.start(info, (), 0, set())

    def start(self, info: Any, moves: Sequence[tuple[int, int]], start: int, wanted: set[int]) -> None:
        """Replay these moves next (from index `start`, after the opening), keeping the steps of `wanted`."""
        self.info, self.moves, self.cursor, self.wanted = info, moves, start, wanted
        self.steps: dict[int, list[tuple[np.ndarray, np.ndarray, int, int]]] = {s: [] for s in wanted}

    def act(self, observation: Any, action_mask: Any, history: Sequence[tuple[int, int]], seat: int) -> int:
        if self.cursor >= len(self.moves):
            raise ValueError("the stored moves ran out before the game ended")
        mover, action = self.moves[self.cursor]
        if mover != seat:
            raise ValueError(f"move {self.cursor + 1} was stored for seat {mover}, but seat {seat} is to move")
        if seat in self.wanted:
            self.steps[seat].append((features(self.info, observation, history, seat),
                                     np.asarray(action_mask, dtype=np.float32), action, self.cursor))
        self.cursor += 1
        return action


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
            pa.array(np.full(n, fold), pa.int8())], schema=schema)
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


def _episode(game: Any, stored: Any, seat: int, steps: list[tuple[np.ndarray, np.ndarray, int, int]],
             info: Any) -> dict[str, Any]:
    """One seat's decisions in one game as an RLlib single-agent episode (columns as numpy arrays)."""
    obs = np.stack([s[0] for s in steps])
    mask = np.stack([s[1] for s in steps])
    try:  # what the seat sees once the game is over: the final next observation
        last = features(info, game.observation(seat), [], seat)
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
            "to_end": np.arange(k)[::-1].copy(), "match_id": stored.id, "seat": seat, "player": info_seat.player}


def export(registry: Any, store: Any, *, env: str, out: str | Path, players: Sequence[str] | None = None,
           league: str | None = None, overwrite: bool = False, progress: Progress = SILENT) -> dict[str, Any]:
    """Write the stored games of `env` as RLlib offline data in folder `out`; returns a summary.

    Each game is replayed from its seed, opening and moves through the match runner, and every seat's decisions
    become one single-agent episode (the masked Dict observation, the stored action, the outcome as the last
    reward). `players`: only the seats those players sat in (their moves are the behaviour to clone); default all.
    `league`: only that league's games. Skipped, with counts: games stored without moves, replays of an identical
    earlier game, and games whose moves do not replay (an illegal move, a different outcome).
    """
    from arena.store import leagues, resolve_env, resolve_player
    from arena.store.games import count_games, games

    pyarrow_or_fail()
    env_id = resolve_env(store, env)
    wanted = [_resolve_player(registry, store, p) for p in players or ()]
    if league is not None and leagues.get(store, league) is None:
        raise UnknownIdError("league", league, leagues.names(store), f"arena league list --db {store.path}",
                             where=str(store.path), listing="to list its leagues")
    game = registry.make_game(env_id)
    info = game.info
    if feature_dim(info) < 0:
        game.close()
        raise UsageError(f"{info.env_id} has no observation space, so it has no features to learn from.")
    folder = _prepare(Path(out), overwrite)
    meta = {"format": FORMAT, "version": VERSION, "env": info.env_id, "obs_dim": feature_dim(info),
            "num_actions": info.num_actions, "features": FEATURES, "num_seats": info.num_seats}
    total = count_games(store, env_id, event=league, players=wanted)
    counts = {"games": 0, "episodes": 0, "no_moves": 0, "replays": 0, "unreplayable": 0}
    by_player: dict[str, int] = {}
    reasons: dict[str, int] = {}
    writer = _Writer(folder, meta)
    script = _Script(info)  # replays every game; one bound policy per player (binding inspects signatures)
    seats_by_player: dict[str, BoundPolicy] = {}
    started = time.monotonic()
    progress.start(f"export {info.env_id}", total)
    try:
        for stored in games(store, env_id, event=league, players=wanted):
            progress.advance()
            if stored.moves is None:
                counts["no_moves"] += 1
                continue
            if stored.replay_of is not None:
                counts["replays"] += 1
                continue
            seats = {s for s, seat in enumerate(stored.seats) if not wanted or seat.player in wanted}
            policies = [seats_by_player.get(seat.player) or seats_by_player.setdefault(
                seat.player, BoundPolicy(seat.player, script)) for seat in stored.seats]
            why = _replay(game, stored, seats, info, script, policies)
            if isinstance(why, str):
                counts["unreplayable"] += 1
                reasons[why] = reasons.get(why, 0) + 1
                continue
            fold = fold_of(stored.id)
            counts["games"] += 1
            for seat, steps in sorted(why.steps.items()):
                if steps:
                    writer.add(fold, _episode(game, stored, seat, steps, info))
                    counts["episodes"] += 1
                    player = stored.seats[seat].player
                    by_player[player] = by_player.get(player, 0) + len(steps)
    finally:
        progress.finish()
        writer.close()
        game.close()
    seconds = time.monotonic() - started
    summary = {**meta, "rows": writer.rows, **counts, "unreplayable_reasons": reasons, "rows_by_player": by_player,
               "files": [p.name for p in writer.files], "source": {"db": str(store.path), "players": wanted or None,
                                                                   "league": league},
               "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (folder / SIDECAR).write_text(json.dumps(summary, indent=2))
    return {**summary, "out": str(folder), "seconds": round(seconds, 2),
            "rows_per_s": round(writer.rows / seconds, 1) if seconds > 0 else None}


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
    script.start(info, moves, len(opening), seats)
    try:
        result = play_game(game, policies, stored.seed, opening=opening)
    except ArenaError as e:
        return f"{type(e).__name__}"
    if result.error:
        return "the game failed on replay"
    if result.forfeits:
        reason = next(iter(result.forfeits.values()))
        return "illegal move on replay" if reason.startswith("illegal action") else "moves do not replay"
    if script.cursor != len(moves):
        return "the game ended before its stored moves did"
    if any(abs(result.score(s) - seat.score) > 1e-9 for s, seat in enumerate(stored.seats)):
        return "the replay ends with another outcome"
    return script


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

    def split(self, holdout: float) -> tuple[list[Path], list[Path]]:
        """(training files, held-out files): the folds below round(holdout * FOLDS) are held out (0.1: fold 0)."""
        cut = max(0, min(FOLDS - 1, round(holdout * FOLDS)))
        train = [f for f, k in zip(self.files, self.folds) if k >= cut]
        held = [f for f, k in zip(self.files, self.folds) if k < cut]
        return train, held


def pyarrow_or_fail() -> None:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageError("Datasets are Parquet files, which need pyarrow: pip install 'arena[train]'.") from None


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
    keys = ("env", "obs_dim", "num_actions", "features", "version")
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
                   int(first["features"]), tuple(files), tuple(folds), tuple(rows), players)


def _describe(meta: Mapping[str, Any]) -> str:
    return f"{meta.get('env')} ({meta.get('obs_dim')} features, {meta.get('num_actions')} actions)"


def check_fits(data: Dataset, info: Any) -> None:
    """Refuse, in one line, a dataset made for another game or with other observation or action sizes."""
    if family(data.env) != family(info.env_id):
        raise DatasetError(f"The data in {data.path} is from {data.env}, not {info.env_id}; export {info.env_id}'s "
                           "games, or train on the game the data is from.")
    if data.features != FEATURES:
        raise DatasetError(f"The data in {data.path} uses feature encoding {data.features}, this Arena {FEATURES}; "
                           "export it again.")
    if data.obs_dim != feature_dim(info) or data.num_actions != info.num_actions:
        raise DatasetError(f"The data in {data.path} has {data.obs_dim} features and {data.num_actions} actions, "
                           f"{info.env_id} {feature_dim(info)} and {info.num_actions}; export {info.env_id}'s games "
                           "again.")


def load_columns(files: Iterable[Path], obs_dim: int, num_actions: int) -> dict[str, np.ndarray]:
    """Features, masks, actions, outcomes and steps-to-end of the rows in `files`, as numpy arrays (plain pyarrow,
    for held-out accuracy and the value head)."""
    import pyarrow.parquet as pq

    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "mask", "actions", "outcome", "to_end")}
    for f in files:
        table = pq.read_table(f, columns=["obs", "actions", "outcome", "to_end"])
        if table.num_rows == 0:
            continue
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
                       value_gamma=value_gamma,
                       folder=folder, data=str(data.path), resources=dict(resources or {}), progress=progress)
    summary = {"env": info.env_id, "algo": algo, "snapshot": f"snapshot/{name}", "folder": str(folder),
               "data": str(data.path), **result, "seconds": round(time.monotonic() - started, 2)}
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
