"""TrueSkill through arena.ratings: the closed-form 1v1 equals trueskill's own, FFA and teams, and the derived views."""
from __future__ import annotations

import random

import pytest
import trueskill

from arena.ratings import Rater, RatingSettings, conservative


def reference(env: trueskill.TrueSkill, teams, ranks):
    groups = [[env.create_rating(mu, sigma) for mu, sigma in team] for team in teams]
    return [[(r.mu, r.sigma) for r in team] for team in env.rate(groups, ranks=ranks)]


@pytest.mark.parametrize("draw_probability", [0.0, 0.1, 0.4])
def test_closed_form_1v1_equals_trueskill_for_wins_losses_and_draws(draw_probability):
    rater = Rater(RatingSettings(draw_probability=draw_probability))
    rnd = random.Random(draw_probability)
    checked = 0
    for _ in range(500):
        a, b = (rnd.uniform(5, 45), rnd.uniform(0.5, 9)), (rnd.uniform(5, 45), rnd.uniform(0.5, 9))
        ranks = rnd.choice([[0, 1], [1, 0]] + ([[0, 0]] if draw_probability else []))
        try:
            expected = reference(rater.env, [[a], [b]], ranks)
        except FloatingPointError:
            continue
        got = rater.rate([[a], [b]], ranks)
        flat = [x for team in got for skill in team for x in skill]
        assert flat == pytest.approx([x for team in expected for skill in team for x in skill], abs=1e-9)
        checked += 1
    assert checked > 450


def test_a_win_moves_skills_the_right_way_and_shrinks_uncertainty():
    rater = Rater()
    (winner,), (loser,) = rater.rate([[rater.initial()], [rater.initial()]], [0, 1])
    assert winner[0] > 25 > loser[0] and winner[1] < 25 / 3 and loser[1] < 25 / 3
    (x,), (y,) = rater.rate([[rater.initial()], [rater.initial()]], [0, 0])
    assert x == pytest.approx(y) and x[0] == pytest.approx(25)


def test_free_for_all_and_teams_go_through_trueskill():
    rater = Rater(RatingSettings(draw_probability=0.05))
    ffa = [[(30.0, 4.0)], [(25.0, 6.0)], [(20.0, 8.0)], [(28.0, 3.0)]]
    assert rater.rate(ffa, [2, 0, 3, 1]) == reference(rater.env, ffa, [2, 0, 3, 1])
    teams = [[(25.0, 8.0), (27.0, 5.0)], [(24.0, 3.0), (26.0, 7.0)]]
    new = rater.rate(teams, [1, 0])
    assert new == reference(rater.env, teams, [1, 0])
    assert all(after[0] < before[0] for after, before in zip(new[0], teams[0]))


def test_settings_are_per_environment_not_global():
    loose, strict = Rater(RatingSettings(draw_probability=0.5)), Rater(RatingSettings(draw_probability=0.01))
    start = [[(25.0, 25 / 3)], [(25.0, 25 / 3)]]
    assert loose.rate(start, [0, 1])[0][0][0] != strict.rate(start, [0, 1])[0][0][0]
    assert trueskill.global_env().draw_probability == trueskill.DRAW_PROBABILITY
    with pytest.raises(ValueError):
        RatingSettings(draw_probability=1.0)


def test_conservative_rating_win_probability_and_quality():
    rater = Rater()
    strong, weak = (35.0, 2.0), (20.0, 2.0)
    assert conservative(strong) == 29.0
    p = rater.win_probability(strong, weak)
    assert 0.9 < p < 1 and rater.win_probability(weak, strong) == pytest.approx(1 - p)
    assert rater.win_probability(strong, strong) == pytest.approx(0.5)
    assert rater.quality([[strong], [strong]]) > rater.quality([[strong], [weak]])
    assert rater.quality([[strong], [weak]]) == pytest.approx(
        trueskill.quality_1vs1(trueskill.Rating(*strong), trueskill.Rating(*weak), env=trueskill.TrueSkill()))
