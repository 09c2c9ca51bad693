"""Rated evaluation: opening a store with TrueSkill wired in, and recording played games into it."""
from __future__ import annotations

import os
from collections.abc import Sequence

from arena.ratings import Rater, RatingSettings, Skill
from arena.store import Store, default_path


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
    return Store(path or default_path(), readonly=readonly, ratings=None if readonly else TrueSkillSystem())
