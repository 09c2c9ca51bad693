"""SPRT for head-to-head engine testing: fishtest's GSPRT log-likelihood ratio over trinomial or pentanomial counts."""
from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from statistics import NormalDist
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from arena.errors import UsageError
from arena.stats import Z95, elo as score_to_elo

FORM = "elo0=0,elo1=20[,alpha=0.05,beta=0.05]"
KEYS = ("elo0", "elo1", "alpha", "beta")
EPSILON = 1e-3  # added to every cell before the empirical frequencies are taken, as fishtest does
SCORE_CLIP = 1e-6
PENTANOMIAL = np.linspace(0.0, 1.0, 5)  # mean score of a game pair: 0, 1/4, 1/2, 3/4, 1
TRINOMIAL = np.linspace(0.0, 1.0, 3)  # score of one game: loss, draw, win


def expected_score(elo: float) -> float:
    """Logistic Elo: the expected score of a player elo points stronger."""
    return 1.0 / (1.0 + 10.0 ** (-elo / 400.0))


def _num(x: float) -> str:
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def _problem(spec: Any) -> str:
    """What is wrong with these SprtSpec fields, or ''."""
    for key in KEYS:
        if not math.isfinite(getattr(spec, key)):
            return f"{key} must be a finite number"
    if spec.elo1 <= spec.elo0:
        return f"elo1 ({_num(spec.elo1)}) must be greater than elo0 ({_num(spec.elo0)})"
    if max(abs(spec.elo0), abs(spec.elo1)) > MAX_ELO:
        return f"elo0 and elo1 must lie within ±{MAX_ELO}"
    for key in ("alpha", "beta"):
        if not 0.0 < getattr(spec, key) < 0.5:
            return f"{key} ({_num(getattr(spec, key))}) must lie strictly between 0 and 0.5"
    return ""


MAX_ELO = 2000  # beyond it the expected score is 1 to ten digits: nothing left to test


@dataclass(frozen=True)
class SprtSpec:
    """The hypotheses H0: elo = elo0 and H1: elo = elo1, with the error rates alpha (false H1) and beta (false H0)."""

    elo0: float
    elo1: float
    alpha: float = 0.05
    beta: float = 0.05

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise UsageError(f"Bad SPRT spec: {problem}. Expected the form {FORM}.")

    @classmethod
    def parse(cls, text: str) -> SprtSpec:
        """Read 'elo0=0,elo1=20,alpha=0.05,beta=0.05'; alpha and beta are optional."""
        values: dict[str, float] = {}
        problem = ""
        for part in text.split(","):
            key, sep, raw = (s.strip() for s in part.partition("="))
            if not sep or not key:
                problem = f"{part.strip()!r} is not key=value"
            elif key not in KEYS:
                problem = f"unknown key {key!r}"
            elif key in values:
                problem = f"{key} given twice"
            else:
                try:
                    values[key] = float(raw)
                except ValueError:
                    problem = f"{key}={raw!r} is not a number"
            if problem:
                break
        missing = [k for k in ("elo0", "elo1") if k not in values]
        if not problem and missing:
            problem = f"missing {' and '.join(missing)}"
        defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        problem = problem or _problem(SimpleNamespace(**{**defaults, **values}))
        if problem:
            raise UsageError(f"Bad SPRT spec {text!r}: {problem}. Expected the form {FORM}.")
        return cls(**values)

    def bounds(self) -> tuple[float, float]:
        """Wald's stopping bounds on the LLR: accept H0 at or below the first, H1 at or above the second."""
        return math.log(self.beta / (1 - self.alpha)), math.log((1 - self.beta) / self.alpha)

    def __str__(self) -> str:
        return f"elo0={_num(self.elo0)},elo1={_num(self.elo1)},alpha={_num(self.alpha)},beta={_num(self.beta)}"


def mle(freq: ArrayLike, score: float) -> np.ndarray:
    """The distribution over evenly spaced outcomes 0..1 nearest (in likelihood) to freq with mean score.

    p_i = freq_i / (1 + lam (a_i - score)), lam found by bisection on the interval where every p_i > 0.
    freq must be positive in every cell and sum to 1 along the last axis; leading axes are a batch.
    """
    f = np.asarray(freq, dtype=float)
    x = np.linspace(0.0, 1.0, f.shape[-1]) - score
    lo = np.full(f.shape[:-1], -1.0 / x.max())  # the root of the decreasing sum lies strictly inside (lo, hi)
    hi = np.full(f.shape[:-1], -1.0 / x.min())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.all((mid == lo) | (mid == hi)):
            break
        positive = (f * x / (1.0 + mid[..., None] * x)).sum(axis=-1) > 0
        lo, hi = np.where(positive, mid, lo), np.where(positive, hi, mid)
    lam = 0.5 * (lo + hi)
    return f / (1.0 + lam[..., None] * x)


def llr(counts: ArrayLike, elo0: float, elo1: float) -> Any:
    """GSPRT log-likelihood ratio of elo1 against elo0 for counts of outcomes evenly spaced on 0..1.

    Three cells are single games (loss, draw, win); five are game pairs (pair mean 0, 1/4, 1/2, 3/4, 1).
    Leading axes are a batch; a 1-D input gives a float. No results give 0.
    """
    n = np.asarray(counts, dtype=float)
    reg = n + EPSILON
    freq = reg / reg.sum(axis=-1, keepdims=True)
    p0, p1 = mle(freq, expected_score(elo0)), mle(freq, expected_score(elo1))
    out = (n * np.log(p1 / p0)).sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def fixed_games(spec: SprtSpec, variance_per_game: float) -> int:
    """Games a fixed-length one-sided test needs to tell elo0 from elo1 at the spec's alpha and beta (normal approx)."""
    if not variance_per_game > 0:
        raise UsageError(f"variance_per_game must be positive, not {variance_per_game}.")
    z = NormalDist().inv_cdf
    gap = expected_score(spec.elo1) - expected_score(spec.elo0)
    return math.ceil(((z(1 - spec.alpha) + z(1 - spec.beta)) * math.sqrt(variance_per_game) / gap) ** 2)


def _score(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"A game score must lie between 0 and 1, not {value}.")
    return float(value)


class Sprt:
    """A running SPRT for player A against player B; stop once decision() is not None.

    Game pairs (seats swapped) feed the pentanomial model, unpaired games the trinomial one. With both, the LLR is
    the sum of the two models' LLRs, as if the pairs and the single games were two independent samples.
    """

    def __init__(self, spec: SprtSpec):
        self.spec = spec
        self.pentanomial = [0] * 5
        self.trinomial = [0] * 3

    def add_pair(self, score1: float, score2: float) -> None:
        """Two games with seats swapped; A's score in each. A fractional pair mean goes to the nearest cell."""
        self.pentanomial[math.floor(2.0 * (_score(score1) + _score(score2)) + 0.5)] += 1

    def add_game(self, score: float) -> None:
        """One unpaired game; A's score. A fractional score goes to the nearest of loss, draw, win."""
        self.trinomial[math.floor(2.0 * _score(score) + 0.5)] += 1

    @property
    def pairs(self) -> int:
        return sum(self.pentanomial)

    @property
    def games(self) -> int:
        return 2 * self.pairs + sum(self.trinomial)

    def llr(self) -> float:
        """Pentanomial LLR of the pairs plus trinomial LLR of the single games; 0.0 with no results."""
        total = 0.0
        for counts in (self.pentanomial, self.trinomial):
            if any(counts):
                total += llr(counts, self.spec.elo0, self.spec.elo1)
        return total

    def decision(self) -> str | None:
        """'H1' once the LLR reaches the upper bound, 'H0' once it reaches the lower one, else None."""
        lower, upper = self.spec.bounds()
        value = self.llr()
        return "H1" if value >= upper else "H0" if value <= lower else None

    def elo(self) -> tuple[float, float, float]:
        """A's logistic Elo advantage from its mean score per game, with a normal 95% interval."""
        total, var_sum = 0.0, 0.0  # A's total score and its variance; a pair counts twice
        for counts, values, weight in ((self.pentanomial, PENTANOMIAL, 2), (self.trinomial, TRINOMIAL, 1)):
            if any(counts):
                mean = float(np.dot(counts, values)) / sum(counts)
                total += weight * float(np.dot(counts, values))
                var_sum += weight**2 * float(np.dot(counts, (values - mean) ** 2))
        mean, half = (total / self.games, Z95 * math.sqrt(var_sum) / self.games) if self.games else (0.5, 1.0)

        def to_elo(s: float) -> float:
            return score_to_elo(min(max(s, SCORE_CLIP), 1 - SCORE_CLIP)) + 0.0  # no -0.0

        return to_elo(mean), to_elo(mean - half), to_elo(mean + half)

    def to_dict(self) -> dict[str, Any]:
        lower, upper = self.spec.bounds()
        estimate, lo, hi = self.elo()
        s = self.spec
        return {"spec": str(s), "elo0": s.elo0, "elo1": s.elo1, "alpha": s.alpha, "beta": s.beta, "llr": self.llr(),
                "lower": lower, "upper": upper, "decision": self.decision(), "games": self.games,
                "pairs": self.pairs, "pentanomial": list(self.pentanomial), "trinomial": list(self.trinomial),
                "elo": estimate, "elo_ci95": [lo, hi]}
