"""Summaries of a series of games: win/draw/loss counts, scores with 95% intervals, Elo differences."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from arena.types import MatchResult

Z95 = 1.959963984540054


def wilson(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion p over n trials (draws count half)."""
    if n == 0:
        return 0.0, 1.0
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if p <= 0.0 else max(0.0, centre - half)  # exact at the ends, where rounding would leave 1e-17
    hi = 1.0 if p >= 1.0 else min(1.0, centre + half)
    return lo, hi


def elo(score: float) -> float:
    """Elo difference that gives this expected score; +-inf at 1 and 0."""
    if score <= 0.0:
        return -math.inf
    if score >= 1.0:
        return math.inf
    return -400.0 * math.log10(1.0 / score - 1.0)


@dataclass
class Standing:
    """One participant's record over a match."""

    player: str
    games: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    forfeits: int = 0
    total_score: float = 0.0
    seat_counts: list[int] = field(default_factory=list)
    total_square: float = 0.0  # of the scores: with one side, the score is the return, whose interval needs it

    @property
    def score(self) -> float:
        return self.total_score / self.games if self.games else 0.0

    def interval(self) -> tuple[float, float]:
        return wilson(self.score, self.games)

    def to_dict(self, single_seat: bool = False) -> dict[str, object]:
        d = asdict(self)
        del d["total_score"], d["total_square"]
        if single_seat:  # games with one side: the score is the mean return, with a normal interval
            d["mean_return"] = self.score
            d["return_ci95"] = list(mean_interval(self.games, self.total_score, self.total_square))
            return d
        lo, hi = self.interval()
        d.update(score=self.score, score_ci95=[lo, hi], elo=_finite(elo(self.score)),
                 elo_ci95=[_finite(elo(lo)), _finite(elo(hi))])
        return d


def mean_interval(n: int, total: float, square: float, z: float = Z95) -> tuple[float | None, float | None]:
    """Normal 95% interval of a mean from n values, their sum and the sum of their squares; (None, None) below 2."""
    if n < 2:
        return None, None
    mean = total / n
    half = z * math.sqrt(max(square / n - mean * mean, 0.0) * n / (n - 1) / n)
    return mean - half, mean + half


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def standings(names: Sequence[str], games: Iterable[tuple[Sequence[int], MatchResult]]) -> list[Standing]:
    """Fold (participant index by seat, result) pairs into one Standing per participant."""
    table = [Standing(name, seat_counts=[0] * len(names)) for name in names]
    for order, result in games:
        if result.error:
            continue
        for seat, who in enumerate(order):
            s = table[who]
            s.games += 1
            s.seat_counts[seat] += 1
            score = result.score(seat)
            s.total_score += score
            s.total_square += score * score
            s.forfeits += seat in result.forfeits
            if result.num_seats > 1:
                outcome = result.outcome(seat)
                s.wins += outcome == "win"
                s.draws += outcome == "draw"
                s.losses += outcome == "loss"
    return table
