"""Rated recording: opening the store with TrueSkill wired in, and recording played games into it in batches."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from arena import signals
from arena.ratings import TrueSkillSystem
from arena.settings import default_db
from arena.store import Store, StoreError
from arena.types import MatchResult


def open_store(path: str | os.PathLike[str] | None = None, *, readonly: bool = False,
               create_on_use: bool = False) -> Store:
    """The Arena store at path (default: $ARENA_DB or ./arena.db) with TrueSkill ratings.

    With create_on_use, a store that does not exist yet is created only when something first uses it, so a command
    that refuses its input after opening its --db leaves no new store behind (an existing one is opened, and checked,
    at once)."""
    path = Path(path or default_db())
    if create_on_use and not readonly and not path.exists():
        if path.parent != Path("") and not path.parent.is_dir():
            raise StoreError(f"Cannot create {path}: folder {path.parent} does not exist.")
        return _CreatedOnUse(path)  # type: ignore[return-value]
    return Store(path, readonly=readonly, ratings=None if readonly else TrueSkillSystem())


class _CreatedOnUse:
    """Stands for a writable Store that does not exist yet and creates it on first use (any attribute but `path`)."""

    def __init__(self, path: Path):
        self.path = path
        self._store: Store | None = None

    def __getattr__(self, name: str) -> Any:
        if self._store is None:
            self._store = Store(self.path, ratings=TrueSkillSystem())
        return getattr(self._store, name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> _CreatedOnUse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Recorder:
    """Stores results as they arrive, committing every `max_batch` games or `max_delay` seconds, whichever is first.

    Each match still lands with its rating update in one transaction; batching only shares the commit, which is
    most of the cost of a write. A killed process loses at most the games of its last `max_delay` seconds, never
    part of one, and rerunning the same command stores them (match ids are idempotent). `event` tags every match
    (a league's name, 'tournament:NAME') and is part of its match id. A new game identical move for move to a
    stored one (a deterministic pairing replaying itself) is stored but not rated again: `replays` counts them.

    With `stream`, every game is committed as it arrives: callers pass it when games are played in this process
    (arena.parallel.plays_in_process), where a plugin that aborts the process (a crash in native code, os.abort)
    would take the batch with it. Worker processes isolate such a crash from the process that records, so there
    batching stays. Streaming costs about 0.5 ms a game (docs/guarantees.md has the measurements).
    """

    def __init__(self, store: Store, *, event: str | None = None, max_batch: int = 64, max_delay: float = 1.0,
                 stream: bool = False):
        if stream:
            max_batch, max_delay = 1, 0.0
        self.store, self.event, self.max_batch, self.max_delay = store, event, max_batch, max_delay
        self.pending: list[MatchResult] = []
        self.new = self.already = 0
        self.replays = 0  # new games identical to a stored one: stored, not rated again
        self._oldest = 0.0

    def add(self, result: MatchResult) -> None:
        if not self.pending:
            self._oldest = time.monotonic()
        self.pending.append(result)
        if len(self.pending) >= self.max_batch or time.monotonic() - self._oldest >= self.max_delay:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with signals.deferred():  # a stop between the commit and the counts would count stored games as old
            done = self.store.record_many([(r, {"event": self.event}) for r in self.pending])
            self.pending.clear()
            fresh = sum(d.new for d in done)
            self.replays += sum(d.replay_of is not None for d in done)
            self.new += fresh
            self.already += len(done) - fresh

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
