"""Tournaments: round-robin, gauntlet and Swiss pairings, kept in the store so an interrupted one resumes.

A tournament is a sequence of rounds; a round is a list of pairings fixed (and stored) before its first game; a
pairing is `games_per_pair` games of two players with seats alternating. Every game has a seed derived from the
tournament's seed, its round and slot, so its match id is known before it is played: resuming plays exactly the
games whose ids are not stored yet. Standings, crosstable and payoff come from the stored games; storing a
tournament is arena.store.tournaments' job.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from arena.errors import UsageError
from arena.match import game_seed, opening_of
from arena.parallel import GameJob
from arena.store import game_id, tournament_event

FORMATS = ("round-robin", "gauntlet", "swiss")
BYE = None
Openings = Callable[[int, int], Sequence[tuple[int, ...]]]  # (round, count) -> the round's first `count` openings


@dataclass(frozen=True)
class TournamentSpec:
    name: str
    env: str  # canonical env id
    players: tuple[str, ...]  # canonical player ids, in seeding order
    format: str
    rounds: int
    games_per_pair: int
    seed: int
    openings: str | None = None  # arena.openings spec the games start from (stored since m009; None: none)

    @property
    def event(self) -> str:
        return tournament_event(self.name)


@dataclass(frozen=True)
class Pairing:
    round: int
    slot: int
    a: str
    b: str | None  # None: a has a bye

    def jobs(self, spec: TournamentSpec, first_index: int, openings: Openings | None = None) -> list[GameJob]:
        """The pairing's games: seats alternate, each game seeded from (tournament seed, round, slot, game). With
        `openings`, games 2k and 2k+1 start from the round's opening k (every pairing of a round plays the same)."""
        if self.b is None:
            return []
        base = game_seed(game_seed(spec.seed, self.round), self.slot)
        starts = openings(self.round, -(-spec.games_per_pair // 2)) if openings else None
        return [GameJob(first_index + g, spec.env, (self.a, self.b) if g % 2 == 0 else (self.b, self.a),
                        game_seed(base, g), opening_of(starts, g, 2)) for g in range(spec.games_per_pair)]


@dataclass
class Record:
    """One player's tournament so far."""

    player: str
    points: float = 0.0  # game points, a bye counting as a pairing won
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    byes: int = 0
    opponents: list[str] = field(default_factory=list)
    tiebreak: float = 0.0  # Buchholz (Swiss) or Sonneborn-Berger (round-robin, gauntlet)

    @property
    def score(self) -> float:
        return (self.wins + 0.5 * self.draws) / self.games if self.games else 0.0


def default_rounds(fmt: str, players: int) -> int:
    return max(1, math.ceil(math.log2(players))) + (1 if players > 2 else 0) if fmt == "swiss" else 1


def pair_round(spec: TournamentSpec, round_: int, records: dict[str, Record]) -> list[Pairing]:
    """The pairings of round `round_` (1-based) given the records after the rounds before it."""
    players = list(spec.players)
    if spec.format == "round-robin":
        pairs = [(a, b) for i, a in enumerate(players) for b in players[i + 1:]]
        return [Pairing(round_, s, a, b) for s, (a, b) in enumerate(pairs)]
    if spec.format == "gauntlet":
        return [Pairing(round_, s, players[0], b) for s, b in enumerate(players[1:])]
    return swiss_pairings(round_, players, records)


def swiss_pairings(round_: int, players: list[str], records: dict[str, Record]) -> list[Pairing]:
    """Players sorted by points (then seeding); each paired with the best-placed one not yet met, backtracking as
    needed. With an odd number, the lowest-placed player without a bye sits out. Repeats only when unavoidable."""
    seeding = {p: i for i, p in enumerate(players)}
    order = sorted(players, key=lambda p: (-records[p].points, seeding[p]))
    pairings: list[Pairing] = []
    if len(order) % 2:
        bye = next((p for p in reversed(order) if records[p].byes == 0), order[-1])
        order.remove(bye)
        pairings.append(Pairing(round_, len(order) // 2, bye, BYE))
    met = {p: set(records[p].opponents) for p in players}
    pairs = _pair(order, met, allow_repeats=False) or _pair(order, met, allow_repeats=True) or []
    return [Pairing(round_, s, a, b) for s, (a, b) in enumerate(pairs)] + pairings


def _pair(order: list[str], met: dict[str, set[str]], allow_repeats: bool) -> list[tuple[str, str]] | None:
    if not order:
        return []
    first, rest = order[0], order[1:]
    for i, other in enumerate(rest):
        if allow_repeats or other not in met[first]:
            tail = _pair(rest[:i] + rest[i + 1:], met, allow_repeats)
            if tail is not None:
                return [(first, other), *tail]
    return None


def differences(stored: TournamentSpec, wanted: TournamentSpec) -> list[str]:
    old, new = asdict(stored), asdict(wanted)
    # openings: a resume without --openings plays the stored ones; given ones are checked against the stored games
    return [f"{k} {old[k]!r} (asked for {new[k]!r})" for k in old
            if k not in ("name", "seed", "openings") and old[k] != new[k]]


def missing(spec: TournamentSpec, pairings: Sequence[Pairing], stored: dict[str, Any],
            first_index: int = 0, openings: Openings | None = None) -> list[GameJob]:
    """The jobs of these pairings whose games are not stored yet."""
    jobs, index = [], first_index
    for p in pairings:
        for job in p.jobs(spec, index, openings):
            if game_id(spec.env, job.players, job.seed, spec.event, job.opening) not in stored:
                jobs.append(job)
        index += spec.games_per_pair
    return jobs


def tally(spec: TournamentSpec, rounds: Sequence[Sequence[Pairing]], stored: dict[str, dict[str, float] | None],
          openings: Openings | None = None) -> tuple[dict[str, Record], dict[tuple[str, str], list[float]]]:
    """Records of every player and head-to-head scores (a's points, games) for every ordered pair, from the store."""
    records = {p: Record(p) for p in spec.players}
    h2h: dict[tuple[str, str], list[float]] = {}
    for pairings in rounds:
        for p in pairings:
            if p.b is None:
                records[p.a].byes += 1
                records[p.a].points += spec.games_per_pair
                continue
            records[p.a].opponents.append(p.b)
            records[p.b].opponents.append(p.a)
            for job in p.jobs(spec, 0, openings):
                scores = stored.get(game_id(spec.env, job.players, job.seed, spec.event, job.opening))
                if not scores:
                    continue
                for me, other in ((p.a, p.b), (p.b, p.a)):
                    s, r = scores[me], records[me]
                    r.points += s
                    r.games += 1
                    r.wins += s == 1.0
                    r.draws += s == 0.5
                    r.losses += s == 0.0
                    cell = h2h.setdefault((me, other), [0.0, 0])
                    cell[0] += s
                    cell[1] += 1
    for r in records.values():
        if spec.format == "swiss":
            r.tiebreak = sum(records[o].points for o in set(r.opponents))
        else:
            r.tiebreak = sum(h2h[(r.player, o)][0] / spec.games_per_pair * records[o].points
                             for o in set(r.opponents) if (r.player, o) in h2h)
    return records, h2h


def ranking(records: dict[str, Record], seeding: Sequence[str]) -> list[Record]:
    place = {p: i for i, p in enumerate(seeding)}
    return sorted(records.values(), key=lambda r: (-r.points, -r.tiebreak, place[r.player]))


def check_spec(fmt: str, players: Sequence[str], seats: int) -> None:
    if seats != 2:
        raise UsageError(f"Tournaments pair two players per game; this game has {seats} seats. "
                         "Use `arena match` for free-for-all games.")
    if len(players) < 2:
        raise UsageError("A tournament needs at least two players.")
    if len(set(players)) != len(players):
        twice = sorted({p for p in players if list(players).count(p) > 1})
        raise UsageError(f"Player {', '.join(twice)} is listed twice; give each player once.")
