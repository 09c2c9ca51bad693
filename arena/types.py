"""Arena's plain data: registrations, game descriptions and match results. No behaviour beyond derived views."""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("env", "policy", "algorithm", "matchmaker")


@dataclass(frozen=True)
class Registration:
    """One id a plugin registered: what it is, where it comes from and how to build it."""

    kind: str
    id: str
    target: Any  # a callable, a class, an object, or a lazy "module:attr" string
    plugin: str
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)  # default parameters

    def load(self) -> Any:
        """The registered object, importing it first when it was given as "module:attr"."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        return obj


@dataclass(frozen=True)
class GameInfo:
    """What a policy or the match runner may know about a game before it starts."""

    env_id: str  # canonical id, with parameters when any were given
    backend: str  # "pettingzoo-aec" | "pettingzoo-parallel" | "openspiel" | "gymnasium"
    num_seats: int
    num_actions: int
    simultaneous: bool
    seat_names: tuple[str, ...]
    observation_space: Any = None  # a gymnasium space, when the backend has one
    native_game: Any = None  # the pyspiel.Game, for search policies; None elsewhere

    @property
    def has_native_state(self) -> bool:
        return self.native_game is not None


@dataclass(frozen=True)
class MatchResult:
    """One finished game: who sat where, what each seat got and how it ranked."""

    env_id: str
    seed: int
    players: tuple[str, ...]  # player spec by seat
    returns: tuple[float, ...]
    ranks: tuple[int, ...]  # 0 is best; tied seats share a rank
    length: int  # decisions taken by the players (chance events excluded)
    forfeits: Mapping[int, str] = field(default_factory=dict)  # seat -> why it forfeited
    moves: tuple[tuple[int, int], ...] | None = None  # (seat, action) in order, when recorded
    duration_s: float = field(default=0.0, compare=False)
    error: str | None = None  # the game itself failed (not a policy): no outcome, nothing to rate
    opening: tuple[int, ...] = ()  # actions played from the start before the policies acted (arena.openings)
    # Every (seat, action) of the game, opening included, whether or not `moves` was asked for: the store rates an
    # identical game once (Store fingerprints). `deterministic`: no chance and no hidden information, so the
    # moves alone make the game; otherwise the seed (the deal) is part of its identity.
    trajectory: tuple[tuple[int, int], ...] = field(default=(), compare=False, repr=False)
    deterministic: bool = field(default=False, compare=False)

    @property
    def num_seats(self) -> int:
        return len(self.players)

    def score(self, seat: int) -> float:
        """Share of the other seats this seat beat, ties counting half: 1 win, 0.5 draw, 0 loss in 1v1."""
        if self.num_seats == 1:
            return float(self.returns[0])
        mine = self.ranks[seat]
        beaten = sum((mine < r) + 0.5 * (mine == r) for s, r in enumerate(self.ranks) if s != seat)
        return beaten / (self.num_seats - 1)

    def outcome(self, seat: int) -> str:
        """"win" when alone in first place, "draw" when sharing it, "loss" otherwise."""
        if self.ranks[seat] != 0:
            return "loss"
        return "draw" if self.ranks.count(0) > 1 else "win"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["forfeits"] = {str(k): v for k, v in self.forfeits.items()}
        d["outcomes"] = [self.outcome(s) for s in range(self.num_seats)] if self.num_seats > 1 else None
        return d


def ranks_from_returns(returns: tuple[float, ...], forfeited: Mapping[int, str] = {}) -> tuple[int, ...]:
    """Competition ranks (0 best, ties share) by return; seats that forfeited rank below all others."""
    live = [s for s in range(len(returns)) if s not in forfeited]
    ranks = []
    for s, r in enumerate(returns):
        if s in forfeited:
            ranks.append(len(live))
        else:
            ranks.append(sum(returns[o] > r for o in live))
    return tuple(ranks)
