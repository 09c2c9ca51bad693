"""TrueSkill ratings: per-game settings, a closed-form 1v1 update equal to trueskill's, the views matchmaking uses,
and TrueSkillSystem, the RatingSystem the store rates matches with."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property

import trueskill

Skill = tuple[float, float]  # (mu, sigma)


@dataclass(frozen=True)
class RatingSettings:
    """The TrueSkill environment of one game. The draw probability differs a lot between games, so it is per game."""

    mu: float = 25.0
    sigma: float = 25.0 / 3
    beta: float = 25.0 / 6
    tau: float = 25.0 / 300
    draw_probability: float = 0.10

    def __post_init__(self) -> None:
        if not 0.0 <= self.draw_probability < 1.0:
            raise ValueError("draw_probability must be in [0, 1)")
        if self.sigma <= 0 or self.beta <= 0 or self.tau < 0:
            raise ValueError("sigma and beta must be positive, tau non-negative")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class Rater:
    """Rates finished games with a trueskill.TrueSkill environment object (never the module's globals).

    Two single players take a closed-form update (the same numbers as TrueSkill.rate_1vs1, about 20x
    faster); free-for-all games and teams go through trueskill's factor graph.
    """

    def __init__(self, settings: RatingSettings = RatingSettings()):
        self.settings = settings
        self.env = trueskill.TrueSkill(mu=settings.mu, sigma=settings.sigma, beta=settings.beta,
                                       tau=settings.tau, draw_probability=settings.draw_probability, backend=None)

    @cached_property
    def _margin_1v1(self) -> float:
        return trueskill.calc_draw_margin(self.settings.draw_probability, 2, env=self.env)

    def initial(self) -> Skill:
        return (self.settings.mu, self.settings.sigma)

    def rate(self, teams: Sequence[Sequence[Skill]], ranks: Sequence[int]) -> list[list[Skill]]:
        """New skills of every team member after a game; lower rank is better, equal ranks drew."""
        if len(teams) != len(ranks) or len(teams) < 2:
            raise ValueError("need at least two teams and one rank per team")
        if len(teams) == 2 and len(teams[0]) == 1 and len(teams[1]) == 1:
            a, b = self.rate_1v1(teams[0][0], teams[1][0], ranks[0] - ranks[1])
            return [[a], [b]]
        groups = [[self.env.create_rating(mu, sigma) for mu, sigma in team] for team in teams]
        try:
            rated = self.env.rate(groups, ranks=list(ranks))
        except FloatingPointError:  # trueskill gives up on hopeless mismatches; keep the skills as they were
            return [list(team) for team in teams]
        return [[(r.mu, r.sigma) for r in team] for team in rated]

    def rate_1v1(self, a: Skill, b: Skill, rank_difference: int) -> tuple[Skill, Skill]:
        """(a, b) after a game that a won (difference < 0), lost (> 0) or drew (0)."""
        if rank_difference > 0:
            b, a = self.rate_1v1(b, a, -rank_difference)
            return a, b
        env, tau2 = self.env, self.settings.tau ** 2
        var_a, var_b = a[1] ** 2 + tau2, b[1] ** 2 + tau2
        c = math.sqrt(2 * self.settings.beta ** 2 + var_a + var_b)
        t, e = (a[0] - b[0]) / c, self._margin_1v1 / c
        try:
            if rank_difference == 0:
                v, w = env.v_draw(t, e), env.w_draw(t, e)
            else:
                v, w = env.v_win(t, e), env.w_win(t, e)
        except FloatingPointError:
            return a, b
        return ((a[0] + var_a / c * v, math.sqrt(var_a * (1 - var_a / c ** 2 * w))),
                (b[0] - var_b / c * v, math.sqrt(var_b * (1 - var_b / c ** 2 * w))))

    def win_probability(self, a: Skill, b: Skill) -> float:
        """Probability that a beats b (draws not separated)."""
        denom = math.sqrt(2 * self.settings.beta ** 2 + a[1] ** 2 + b[1] ** 2)
        return self.env.cdf((a[0] - b[0]) / denom)

    def quality(self, teams: Sequence[Sequence[Skill]]) -> float:
        """TrueSkill match quality (the draw probability of an evenly matched game), in [0, 1]."""
        return self.env.quality([[self.env.create_rating(mu, sigma) for mu, sigma in team] for team in teams])


class TrueSkillSystem:
    """The store's RatingSystem (arena.store.RatingSystem): one Rater per distinct settings."""

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


def conservative(skill: Skill) -> float:
    """The rating a leaderboard sorts by: mu - 3 sigma, a lower bound the true skill exceeds with ~99.9%."""
    return skill[0] - 3 * skill[1]
