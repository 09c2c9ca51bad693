"""Built-in matchmakers: pure functions from a league's state to one learner's opponent table for the next round.

    matchmaker(learner, pool, payoff, ratings, rng, **params) -> {opponent spec or "self": weight}

Candidates are `pool.opponents(learner)`, addressed by `Member.plays_as`; weights are positive and sum to 1.
A `self_play` fraction goes to "self" exactly; the rest is spread over the candidates. With more than
`max_opponents` weighted candidates, that many are drawn without replacement (probability proportional to
weight, from `rng`) and keep their weights. With no candidate at all, every matchmaker returns {"self": 1.0}.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import trueskill

from arena.hookspecs import hookimpl
from arena.pool import FIXED, LEARNER, SELF, SNAPSHOT, Member, Payoff, Pool

Ratings = Mapping[str, tuple[float, float]]
DEFAULT_RATING = (25.0, 25.0 / 3)
MAX_OPPONENTS = 8

# Prioritized fictitious self-play weightings of the learner's win rate x against an opponent (AlphaStar).
WEIGHTINGS: dict[str, Callable[[float], float]] = {
    "hard": lambda x: (1.0 - x) ** 2,  # focus on the opponents the learner loses to
    "variance": lambda x: x * (1.0 - x),  # focus on the opponents of about its own level
    "linear_capped": lambda x: min(0.5, 1.0 - x),
}
EXPLOITER_ROLES = ("main_exploiter", "league_exploiter")
# Match quality does not depend on the draw probability; mu, sigma and beta are the defaults, as in arena.ratings.
QUALITY_DRAW_PROBABILITY = 0.1


# -- helpers ------------------------------------------------------------------------------------
def pfsp_weight(x: float, weighting: str = "hard") -> float:
    """The PFSP weight f(x) of an opponent the learner scores x in [0, 1] against."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown PFSP weighting {weighting!r}: use one of {', '.join(WEIGHTINGS)}")
    return float(WEIGHTINGS[weighting](x))


def candidates(learner: Member, pool: Pool) -> list[Member]:
    """The learner's possible opponents, one per spec they play as (the first member for each), in pool order."""
    found: dict[str, Member] = {}
    for m in pool.opponents(learner):
        found.setdefault(m.plays_as, m)  # type: ignore[arg-type]  # opponents() all have plays_as
    return list(found.values())


def pfsp_weights(learner: Member, members: Iterable[Member], payoff: Payoff,
                 weighting: str = "hard") -> dict[str, float]:
    """PFSP weights over `members`, normalised; uniform when every weight is 0 (the learner beats them all)."""
    weights = {m.plays_as: pfsp_weight(payoff.win_rate(learner.id, m.plays_as), weighting) for m in members}
    return _normalised(weights) or _normalised({k: 1.0 for k in weights})


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    """Positive weights scaled to sum to 1 ({} when none is positive)."""
    positive = {k: float(w) for k, w in weights.items() if w > 0}
    total = sum(positive.values())
    return {k: w / total for k, w in positive.items()} if total > 0 else {}


def _check(self_play: float, max_opponents: int | None) -> None:
    if not 0.0 <= self_play <= 1.0:
        raise ValueError(f"self-play fraction must be in [0, 1], got {self_play}")
    if max_opponents is not None and (not isinstance(max_opponents, int) or max_opponents < 1):
        raise ValueError(f"max_opponents must be a positive integer (or None for no limit), got {max_opponents!r}")


def _table(weights: Mapping[str, float], self_play: float, max_opponents: int | None,
           rng: np.random.Generator) -> dict[str, float]:
    """The opponent table: `self_play` to "self", the rest over at most `max_opponents` weighted candidates."""
    _check(self_play, max_opponents)
    weights = _normalised(weights)
    if max_opponents is not None and len(weights) > max_opponents:
        keys = list(weights)
        p = np.array([weights[k] for k in keys])
        chosen = rng.choice(len(keys), size=max_opponents, replace=False, p=p / p.sum())
        weights = _normalised({keys[i]: weights[keys[i]] for i in sorted(chosen)})
    if not weights or self_play >= 1.0:
        return {SELF: 1.0}
    table = {SELF: self_play} if self_play > 0 else {}
    table.update({k: (1.0 - self_play) * w for k, w in weights.items()})
    return table


# -- matchmakers --------------------------------------------------------------------------------
def uniform(learner: Member, pool: Pool, payoff: Payoff, ratings: Ratings, rng: np.random.Generator, *,
            max_opponents: int | None = MAX_OPPONENTS) -> dict[str, float]:
    """Every candidate with the same weight."""
    return _table({m.plays_as: 1.0 for m in candidates(learner, pool)}, 0.0, max_opponents, rng)


def latest(learner: Member, pool: Pool, payoff: Payoff, ratings: Ratings, rng: np.random.Generator, *,
           fixed: float = 0.0, max_opponents: int | None = MAX_OPPONENTS) -> dict[str, float]:
    """Self-play; a `fixed` fraction spread uniformly over the fixed players (none: all self-play)."""
    if not 0.0 <= fixed <= 1.0:
        raise ValueError(f"fixed must be in [0, 1], got {fixed}")
    fixed_players = {m.plays_as: 1.0 for m in candidates(learner, pool) if m.kind == FIXED}
    return _table(fixed_players, 1.0 - fixed, max_opponents, rng)


def pfsp(learner: Member, pool: Pool, payoff: Payoff, ratings: Ratings, rng: np.random.Generator, *,
         weighting: str = "hard", self_play: float = 0.0,
         max_opponents: int | None = MAX_OPPONENTS) -> dict[str, float]:
    """Prioritized fictitious self-play: each candidate weighted by f(learner's win rate against it)."""
    pfsp_weight(0.5, weighting)  # reject an unknown weighting even when the pool is empty
    return _table(pfsp_weights(learner, candidates(learner, pool), payoff, weighting), self_play, max_opponents, rng)


def trueskill_quality(learner: Member, pool: Pool, payoff: Payoff, ratings: Ratings, rng: np.random.Generator, *,
                      self_play: float = 0.0, max_opponents: int | None = MAX_OPPONENTS) -> dict[str, float]:
    """Each candidate weighted by the TrueSkill match quality between its rating and the learner's."""
    env = trueskill.TrueSkill(draw_probability=QUALITY_DRAW_PROBABILITY, backend=None)

    def rating(id: str | None) -> trueskill.Rating:
        return env.create_rating(*(ratings.get(id, DEFAULT_RATING) if id else DEFAULT_RATING))

    mine = rating(learner.policy)
    weights = {m.plays_as: trueskill.quality_1vs1(mine, rating(m.plays_as), env=env)
               for m in candidates(learner, pool)}
    return _table(_normalised(weights) or {k: 1.0 for k in weights}, self_play, max_opponents, rng)


def alphastar(learner: Member, pool: Pool, payoff: Payoff, ratings: Ratings, rng: np.random.Generator, *,
              self_play: float = 0.35, exploiters: float = 0.15, threshold: float = 0.2,
              max_opponents: int | None = MAX_OPPONENTS) -> dict[str, float]:
    """AlphaStar's league by the learner's role (main, main_exploiter, league_exploiter; any other role: main)."""
    _check(self_play, max_opponents)
    others = candidates(learner, pool)
    if learner.role == "league_exploiter":
        return _table(pfsp_weights(learner, others, payoff), 0.0, max_opponents, rng)
    if learner.role == "main_exploiter":
        return _table(_main_exploiter(learner, pool, payoff, others, threshold), 0.0, max_opponents, rng)
    if not 0.0 <= exploiters <= 1.0 - self_play:
        raise ValueError(f"exploiters must be in [0, 1 - self_play], got {exploiters} with self_play={self_play}")
    hunters = [m for m in others if m.role in EXPLOITER_ROLES and m.kind in (LEARNER, SNAPSHOT)]
    rest = 1.0 - self_play
    share = exploiters if hunters else 0.0
    weights = {k: (rest - share) * w for k, w in pfsp_weights(learner, others, payoff).items()}
    for k, w in pfsp_weights(learner, hunters, payoff).items():
        weights[k] = weights.get(k, 0.0) + share * w
    return _table(weights, self_play, max_opponents, rng)


def _main_exploiter(learner: Member, pool: Pool, payoff: Payoff, others: list[Member],
                    threshold: float) -> dict[str, float]:
    """Each main learner's latest copy, or its snapshots by PFSP-variance while the exploiter scores below threshold."""
    mains = [m for m in pool.learners("main") if m.id != learner.id and m.plays_as is not None]
    if not mains:
        return pfsp_weights(learner, others, payoff)
    weights: dict[str, float] = {}
    for main in mains:
        group = {main.plays_as: 1.0}
        if payoff.win_rate(learner.id, main.plays_as) < threshold:
            group = pfsp_weights(learner, pool.snapshots(learner=main.id), payoff, "variance") or group
        for k, w in group.items():
            weights[k] = weights.get(k, 0.0) + w / len(mains)
    return weights


@hookimpl
def register_matchmakers(register):
    common = {"max_opponents": MAX_OPPONENTS}
    register("uniform", uniform, description="Every pool member with the same weight.", params=common)
    register("latest", latest, description="Self-play; `fixed` of the weight spread over the fixed players.",
             params={"fixed": 0.0, **common})
    register("pfsp", pfsp, description="Prioritized fictitious self-play: weight f(win rate), "
             "weighting=hard (1-x)^2, variance x(1-x) or linear_capped min(0.5,1-x).",
             params={"weighting": "hard", "self_play": 0.0, **common})
    register("trueskill_quality", trueskill_quality, description="Weight by TrueSkill match quality with the learner.",
             params={"self_play": 0.0, **common})
    register("alphastar", alphastar, description="AlphaStar league by role: main 35% self-play, 50% PFSP, 15% "
             "exploiters; main exploiters hunt the mains; league exploiters PFSP over the pool.",
             params={"self_play": 0.35, "exploiters": 0.15, "threshold": 0.2, **common})
