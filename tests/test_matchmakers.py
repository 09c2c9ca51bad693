"""The built-in matchmakers: weights by hand-computed formulas, self-play fractions, sampling, AlphaStar roles."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import trueskill

from arena.plugin_manager import get_plugin_manager
from arena.pool import FIXED, LEARNER, SELF, SNAPSHOT, Member, Payoff, Pool
from arena.plugins.matchmakers import alphastar, latest, pfsp, trueskill_quality, uniform

IDS = ("uniform", "latest", "pfsp", "trueskill_quality", "alphastar")
ME = Member("me", LEARNER, learner="me", role="main", policy="snapshot/me-3")


def fixed(id):
    return Member(id, FIXED)


def snap(id, learner="me", role="main", round=0):
    return Member(id, SNAPSHOT, learner=learner, role=role, round=round)


def learner(name, role, policy):
    return Member(name, LEARNER, learner=name, role=role, policy=policy)


def payoff(rates, learner_id="me"):
    """A payoff table with the learner's win rate against each opponent, from 10 games each."""
    return Payoff(table={(learner_id, k): (x * 10, 10.0) for k, x in rates.items()})


def rng(seed=0):
    return np.random.default_rng(seed)


def assert_table(table):
    assert table and all(w > 0 for w in table.values())
    assert sum(table.values()) == pytest.approx(1.0)


POOL3 = Pool((ME, fixed("a"), fixed("b"), fixed("c")))
RATES3 = payoff({"a": 0.1, "b": 0.6, "c": 0.9})


@pytest.mark.parametrize("weighting, f", [("hard", lambda x: (1 - x) ** 2), ("variance", lambda x: x * (1 - x)),
                                          ("linear_capped", lambda x: min(0.5, 1 - x))])
def test_pfsp_weights_follow_the_formula(weighting, f):
    raw = {"a": f(0.1), "b": f(0.6), "c": f(0.9)}
    table = pfsp(ME, POOL3, RATES3, {}, rng(), weighting=weighting)
    assert table == pytest.approx({k: w / sum(raw.values()) for k, w in raw.items()})


def test_pfsp_hard_numbers_by_hand():
    # (1-x)^2: 0.81, 0.16, 0.01 -> sum 0.98
    assert pfsp(ME, POOL3, RATES3, {}, rng()) == pytest.approx({"a": 0.81 / 0.98, "b": 0.16 / 0.98, "c": 0.01 / 0.98})


def test_pfsp_self_play_fraction_and_unseen_prior():
    table = pfsp(ME, Pool((ME, fixed("a"), fixed("b"))), payoff({"a": 0.0}), {}, rng(), self_play=0.3)
    # a: (1-0)^2 = 1; b unseen: prior 0.5 -> 0.25
    assert table == pytest.approx({SELF: 0.3, "a": 0.7 * 1 / 1.25, "b": 0.7 * 0.25 / 1.25})


def test_pfsp_falls_back_to_uniform_when_learner_beats_everything():
    table = pfsp(ME, POOL3, payoff({"a": 1.0, "b": 1.0, "c": 1.0}), {}, rng())
    assert table == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def test_pfsp_rejects_unknown_weighting_naming_the_valid_ones():
    for pool in (POOL3, Pool()):
        with pytest.raises(ValueError, match="hard.*variance.*linear_capped"):
            pfsp(ME, pool, Payoff(), {}, rng(), weighting="squared")


@pytest.mark.parametrize("pool", [Pool(), Pool((ME,)), Pool((ME, learner("other", "main", None)))],
                         ids=["empty", "only-me", "no-frozen-copy"])
@pytest.mark.parametrize("fn", [uniform, latest, pfsp, trueskill_quality, alphastar])
def test_no_candidate_means_self_play(fn, pool):
    assert fn(ME, pool, Payoff(), {}, rng()) == {SELF: 1.0}


def test_uniform_covers_snapshots_fixed_and_other_learners_latest_copies():
    pool = Pool((ME, fixed("random"), snap("snapshot/me-0"), learner("you", "main", "snapshot/you-1")))
    assert uniform(ME, pool, Payoff(), {}, rng()) == pytest.approx(
        {"random": 1 / 3, "snapshot/me-0": 1 / 3, "snapshot/you-1": 1 / 3})


def test_latest_is_self_play_with_a_fixed_fraction():
    pool = Pool((ME, fixed("random"), fixed("mcts"), snap("snapshot/me-0")))
    assert latest(ME, pool, Payoff(), {}, rng()) == {SELF: 1.0}
    assert latest(ME, pool, Payoff(), {}, rng(), fixed=0.2) == pytest.approx({SELF: 0.8, "random": 0.1, "mcts": 0.1})
    assert latest(ME, Pool((ME, snap("snapshot/me-0"))), Payoff(), {}, rng(), fixed=0.2) == {SELF: 1.0}


BIG = Pool((ME, *(fixed(f"p{i}") for i in range(20))))


@pytest.mark.parametrize("fn", [uniform, pfsp, trueskill_quality, alphastar])
def test_max_opponents_bounds_the_table_and_is_deterministic(fn):
    tables = [fn(ME, BIG, Payoff(), {}, rng(seed), max_opponents=5) for seed in range(6)]
    for t in tables:
        assert_table(t)
        assert len(set(t) - {SELF}) == 5
    assert fn(ME, BIG, Payoff(), {}, rng(3), max_opponents=5) == tables[3]
    assert len({frozenset(t) for t in tables}) > 1, "different seeds should choose different opponents"


def test_sampling_is_proportional_to_weight_and_keeps_weights():
    rates = payoff({"p0": 0.0, "p1": 0.5, **{f"p{i}": 0.99 for i in range(2, 20)}})  # weights 1, 0.25, then 1e-4 each
    for seed in range(20):
        table = pfsp(ME, BIG, rates, {}, rng(seed), max_opponents=2)
        assert set(table) == {"p0", "p1"}
        assert table["p0"] / table["p1"] == pytest.approx(4.0)


def test_trueskill_quality_prefers_the_closer_rating():
    pool = Pool((ME, fixed("near"), fixed("far"), fixed("unrated")))
    ratings = {"snapshot/me-3": (30.0, 2.0), "near": (29.0, 2.0), "far": (10.0, 2.0)}
    table = trueskill_quality(ME, pool, Payoff(), ratings, rng())
    env = trueskill.TrueSkill(draw_probability=0.1)
    mine = env.create_rating(30.0, 2.0)
    q = {k: trueskill.quality_1vs1(mine, env.create_rating(*ratings.get(k, (25.0, 25.0 / 3))), env=env)
         for k in ("near", "far", "unrated")}
    assert table == pytest.approx({k: v / sum(q.values()) for k, v in q.items()})
    assert table["near"] > table["unrated"] > table["far"]
    unrated_me = Member("me", LEARNER, role="main")  # no frozen copy yet: the default rating
    table = trueskill_quality(unrated_me, Pool((unrated_me, fixed("a"), fixed("b"))), Payoff(),
                              {"a": (25.0, 25.0 / 3), "b": (45.0, 25.0 / 3)}, rng(), self_play=0.5)
    assert table[SELF] == 0.5 and table["a"] > table["b"]


def test_alphastar_main_self_play_pfsp_and_exploiters():
    exploiter = learner("E", "main_exploiter", "snapshot/E-1")
    pool = Pool((ME, fixed("random"), snap("snapshot/me-0"), exploiter, snap("snapshot/E-0", "E", "main_exploiter")))
    # all unseen (x = 0.5): 0.5 uniform over 4 candidates, 0.15 uniform over the 2 exploiter copies
    assert alphastar(ME, pool, Payoff(), {}, rng()) == pytest.approx(
        {SELF: 0.35, "random": 0.125, "snapshot/me-0": 0.125, "snapshot/E-1": 0.2, "snapshot/E-0": 0.2})
    no_exploiters = Pool((ME, fixed("random"), snap("snapshot/me-0")))
    assert alphastar(ME, no_exploiters, Payoff(), {}, rng()) == pytest.approx(
        {SELF: 0.35, "random": 0.325, "snapshot/me-0": 0.325})
    none_role = Member("me", LEARNER, learner="me", policy="snapshot/me-3")
    assert alphastar(none_role, pool, Payoff(), {}, rng()) == alphastar(ME, pool, Payoff(), {}, rng())


MAIN_POOL = Pool((learner("M", "main", "snapshot/M-2"), snap("snapshot/M-0", "M", round=0),
                  snap("snapshot/M-1", "M", round=1), fixed("random")))
EXPLOITER = learner("X", "main_exploiter", "snapshot/X-0")


def test_alphastar_main_exploiter_plays_the_main_then_its_snapshots_below_threshold():
    pool = Pool((*MAIN_POOL.members, EXPLOITER))
    assert alphastar(EXPLOITER, pool, payoff({"snapshot/M-2": 0.5}, "X"), {}, rng()) == {"snapshot/M-2": 1.0}
    losing = payoff({"snapshot/M-2": 0.1, "snapshot/M-0": 0.2, "snapshot/M-1": 0.5}, "X")  # variance: 0.16, 0.25
    assert alphastar(EXPLOITER, pool, losing, {}, rng()) == pytest.approx(
        {"snapshot/M-0": 0.16 / 0.41, "snapshot/M-1": 0.25 / 0.41})
    assert alphastar(EXPLOITER, pool, losing, {}, rng(), threshold=0.05) == {"snapshot/M-2": 1.0}


def test_alphastar_main_exploiter_without_a_main_copy_falls_back_to_pfsp():
    pool = Pool((EXPLOITER, learner("M", "main", None), fixed("a"), fixed("b")))
    rates = payoff({"a": 0.2, "b": 0.6}, "X")
    assert alphastar(EXPLOITER, pool, rates, {}, rng()) == pytest.approx(pfsp(EXPLOITER, pool, rates, {}, rng()))
    assert alphastar(EXPLOITER, Pool((EXPLOITER,)), rates, {}, rng()) == {SELF: 1.0}


def test_alphastar_league_exploiter_covers_the_pool_by_pfsp_hard():
    league = learner("L", "league_exploiter", "snapshot/L-0")
    pool = Pool((*MAIN_POOL.members, EXPLOITER, league))
    rates = payoff({"random": 0.9, "snapshot/M-0": 0.5}, "L")
    table = alphastar(league, pool, rates, {}, rng())
    assert set(table) == {"snapshot/M-2", "snapshot/M-0", "snapshot/M-1", "random", "snapshot/X-0"}
    assert table == pytest.approx(pfsp(league, pool, rates, {}, rng(), weighting="hard"))
    assert table["random"] / table["snapshot/M-0"] == pytest.approx(0.01 / 0.25)


def test_every_matchmaker_is_registered_with_its_defaults():
    from arena.registry import Registry

    reg = Registry(get_plugin_manager())
    assert set(IDS) <= set(reg.ids("matchmaker"))
    for id_ in IDS:
        entry = reg.resolve("matchmaker", id_)
        fn = entry.load()
        assert fn.__name__ == id_
        defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.kind is p.KEYWORD_ONLY}
        assert dict(entry.params) == defaults
        table = fn(ME, MAIN_POOL, Payoff(), {}, rng(), **entry.params)
        assert_table(table)
