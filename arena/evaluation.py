"""Rated evaluation: opening a store with TrueSkill wired in, and recording played games into it in batches."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence

from arena.ratings import Rater, RatingSettings, Skill
from arena.settings import default_db
from arena.store import Store
from arena.types import MatchResult


class TrueSkillSystem:
    """The store's RatingSystem: one Rater (a trueskill.TrueSkill environment) per distinct settings."""

    def __init__(self) -> None:
        self._raters: dict[tuple[float, ...], Rater] = {}

    def defaults(self, env: str) -> dict[str, float]:
        return RatingSettings().to_dict()

    def rater(self, settings: dict[str, float]) -> Rater:
        key = tuple(sorted(settings.items()))
        rater = self._raters.get(key)
        if rater is None:
            rater = self._raters[key] = Rater(RatingSettings(**settings))
        return rater

    def rate(self, settings: dict[str, float], teams: Sequence[Sequence[Skill | None]],
             ranks: Sequence[int]) -> list[list[Skill]]:
        rater = self.rater(settings)
        start = rater.initial()
        return rater.rate([[s if s is not None else start for s in team] for team in teams], ranks)


def open_store(path: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> Store:
    """The Arena store at path (default: $ARENA_DB or ./arena.db) with TrueSkill ratings."""
    return Store(path or default_db(), readonly=readonly, ratings=None if readonly else TrueSkillSystem())


class Recorder:
    """Stores results as they arrive, committing every `max_batch` games or `max_delay` seconds, whichever is first.

    Each match still lands with its rating update in one transaction; batching only shares the commit, which is
    most of the cost of a write. A killed process loses at most the games of its last `max_delay` seconds, never
    part of one, and rerunning the same command stores them (match ids are idempotent).
    """

    def __init__(self, store: Store, *, league: str | None = None, max_batch: int = 64, max_delay: float = 1.0):
        self.store, self.league, self.max_batch, self.max_delay = store, league, max_batch, max_delay
        self.pending: list[MatchResult] = []
        self.new = self.already = 0
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
        done = self.store.record_many([(r, {"league": self.league}) for r in self.pending])
        self.pending.clear()
        fresh = sum(d.new for d in done)
        self.new += fresh
        self.already += len(done) - fresh

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
