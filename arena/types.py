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
    teams: Mapping[str, Any] | None = None  # an env's teams, {team: [seat names]}, where the adapter cannot tell

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
    # Each seat's gymnasium action space, when the backend has them; a Box seat acts with an array (continuous)
    action_spaces: tuple[Any, ...] = ()
    # Each seat's observation space where seats differ (MPE's adversaries and good agents); () : observation_space
    observation_spaces: tuple[Any, ...] = ()
    # Teams: groups of seats that play for one side (MPE's adversaries and good agents, or everyone in a
    # cooperative simulation), with their names. () : every seat is its own side.
    teams: tuple[tuple[int, ...], ...] = ()
    team_names: tuple[str, ...] = ()
    # Returns within draw_margin of each other rank equal (a draw); a game parameter (`ENV:draw_margin=5`)
    draw_margin: float = 0.0

    @property
    def has_native_state(self) -> bool:
        return self.native_game is not None

    @property
    def hidden_information(self) -> bool:
        """An OpenSpiel game where a player does not see everything (poker, moves made at once): there a policy is
        a mixed strategy, and playing only its most likely move throws that away."""
        if self.native_game is None:
            return False
        import pyspiel

        return self.native_game.get_type().information != pyspiel.GameType.Information.PERFECT_INFORMATION

    @property
    def sides(self) -> tuple[tuple[int, ...], ...]:
        """The seats of each side: the teams, or one side per seat."""
        return self.teams or tuple((s,) for s in range(self.num_seats))

    @property
    def cooperative(self) -> bool:
        """One side for every seat (a one-seat game, or a team of all): scored by return, with nobody to rank."""
        return len(self.sides) == 1

    def observation_space_of(self, seat: int) -> Any:
        return self.observation_spaces[seat] if self.observation_spaces else self.observation_space

    def continuous(self, seat: int) -> bool:
        """Whether the seat acts with an array (a gymnasium Box) rather than an action number."""
        return bool(self.action_spaces) and type(self.action_spaces[seat]).__name__ == "Box"

    def match_seats(self, players: int) -> int | None:
        """Seats of a match with this many players: one per seat, or one per team (a player plays a whole team);
        None when neither fits."""
        if players == self.num_seats:
            return players
        if self.teams and players == len(self.teams):
            return players
        return None

    def seat_help(self) -> str:
        """What a match needs: '4 seats' or '4 seats or 2 teams (adversaries: 3 seats, good: 1 seat)'."""
        text = f"{self.num_seats} seat{'s' * (self.num_seats != 1)}"
        if self.teams and len(self.teams) != self.num_seats:
            parts = ", ".join(f"{name}: {len(team)}" for name, team in zip(self.team_names, self.teams))
            text += f", or {len(self.teams)} team{'s' * (len(self.teams) != 1)} ({parts})"
        return text


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
    # The side (team index) of each seat when seats are teammates, as where several players share one team of a
    # simulation; () : every seat is its own side. Teammates share a rank; a seat's score counts other sides only.
    teams: tuple[int, ...] = ()

    @property
    def num_seats(self) -> int:
        return len(self.players)

    def side(self, seat: int) -> int:
        return self.teams[seat] if self.teams else seat

    @property
    def num_sides(self) -> int:
        return len(set(self.teams)) if self.teams else self.num_seats

    def score(self, seat: int) -> float:
        """Share of the other sides this seat's side beat, ties counting half: 1 win, 0.5 draw, 0 loss in 1v1; the
        return where there is nobody to beat (one side)."""
        if self.num_sides == 1:
            return float(self.returns[seat])
        mine, side = self.ranks[seat], self.side(seat)
        others = {self.side(s): r for s, r in enumerate(self.ranks) if self.side(s) != side}
        beaten = sum((mine < r) + 0.5 * (mine == r) for r in others.values())
        return beaten / len(others)

    def outcome(self, seat: int) -> str:
        """"win" when its side is alone in first place, "draw" when sharing it, "loss" otherwise."""
        if self.ranks[seat] != 0:
            return "loss"
        firsts = {self.side(s) for s, r in enumerate(self.ranks) if r == 0}
        return "draw" if len(firsts) > 1 else "win"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["forfeits"] = {str(k): v for k, v in self.forfeits.items()}
        d["outcomes"] = [self.outcome(s) for s in range(self.num_seats)] if self.num_sides > 1 else None
        if not self.teams:
            del d["teams"]
        return d


def ranks_from_returns(returns: tuple[float, ...], forfeited: Mapping[int, str] = {}, margin: float = 0.0,
                       ) -> tuple[int, ...]:
    """Competition ranks (0 best, ties share) by return; seats that forfeited rank below all others. A seat ranks
    below another only when the other's return is more than `margin` higher (returns within the margin draw)."""
    live = [s for s in range(len(returns)) if s not in forfeited]
    ranks = []
    for s, r in enumerate(returns):
        if s in forfeited:
            ranks.append(len(live))
        else:
            ranks.append(sum(returns[o] > r + margin for o in live))
    return tuple(ranks)
