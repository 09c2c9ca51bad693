"""Tests of the Bradley-Terry rating fit: exact two-player values, order independence, recovery, bootstrap."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from arena.bradley_terry import BTRating, fit


def by_player(ratings: list[BTRating]) -> dict[str, BTRating]:
    return {r.player: r for r in ratings}


def test_two_players_exact_with_prior() -> None:
    ratings = fit([("a", "b", 75, 0, 25)], bootstrap=0)
    r = by_player(ratings)
    # prior=1.0 adds one virtual draw: half a win each side, so 75.5 against 25.5
    assert r["a"].rating - r["b"].rating == pytest.approx(400 * math.log10(75.5 / 25.5), abs=1e-6)
    assert r["a"].rating + r["b"].rating == pytest.approx(0.0, abs=1e-9)
    assert [x.player for x in ratings] == ["a", "b"]
    assert r["a"].games == r["b"].games == 100


def test_order_independence() -> None:
    merged = [("a", "b", 30, 4, 10), ("b", "c", 12, 2, 20), ("a", "c", 25, 0, 5), ("c", "d", 8, 8, 8)]
    split = [
        ("c", "d", 3, 5, 2), ("c", "b", 20, 2, 12), ("b", "a", 6, 1, 20),
        ("a", "c", 25, 0, 5), ("b", "a", 4, 3, 10), ("d", "c", 6, 3, 5),
    ]
    one = by_player(fit(merged, bootstrap=0))
    two = by_player(fit(split, bootstrap=0))
    assert one.keys() == two.keys() == {"a", "b", "c", "d"}
    for p in one:
        assert one[p].rating == pytest.approx(two[p].rating, abs=1e-9)
        assert one[p].games == two[p].games
    assert sum(r.rating for r in one.values()) == pytest.approx(0.0, abs=1e-9)


def test_recovers_known_strengths() -> None:
    true = {"p": -300.0, "q": -100.0, "r": 0.0, "s": 150.0, "t": 250.0}
    rng = np.random.default_rng(12345)
    records = []
    for a, b in itertools.combinations(true, 2):
        p_a = 1.0 / (1.0 + 10 ** ((true[b] - true[a]) / 400.0))
        wins_a = int(rng.binomial(400, p_a))
        records.append((a, b, wins_a, 0, 400 - wins_a))
    ratings = fit(records, bootstrap=200, seed=3)
    assert [r.player for r in ratings] == ["t", "s", "r", "q", "p"]
    mean = sum(true.values()) / len(true)
    covered = 0
    for r in ratings:
        target = true[r.player] - mean
        assert abs(r.rating - target) < 40
        assert r.lo < r.rating < r.hi
        covered += r.lo <= target <= r.hi
    assert covered >= 4


def test_perfect_record_and_bootstrap_seeds() -> None:
    records = [("a", "b", 20, 0, 0), ("a", "c", 20, 0, 0), ("b", "c", 12, 3, 5)]
    r = by_player(fit(records, bootstrap=0))
    assert all(math.isfinite(x.rating) for x in r.values())
    assert r["a"].rating > max(r["b"].rating, r["c"].rating)
    assert all(x.lo == x.hi == x.rating for x in r.values())
    same1, same2 = fit(records, seed=7), fit(records, seed=7)
    assert same1 == same2
    other = fit(records, seed=8)
    assert [(x.lo, x.hi) for x in other] != [(x.lo, x.hi) for x in same1]
    assert all(math.isfinite(x.lo) and math.isfinite(x.hi) for x in other)


def test_draws_only_give_equal_ratings() -> None:
    r = by_player(fit([("a", "b", 0, 10, 0)], bootstrap=20))
    assert r["a"].rating == pytest.approx(r["b"].rating, abs=1e-9)
    assert r["a"].rating == pytest.approx(0.0, abs=1e-9)


def test_disconnected_groups_are_finite_and_centred() -> None:
    records = [("a", "b", 9, 0, 1), ("c", "d", 2, 0, 8), ("c", "e", 5, 0, 5)]
    r = by_player(fit(records, bootstrap=50))
    assert all(math.isfinite(v) for x in r.values() for v in (x.rating, x.lo, x.hi))
    assert r["a"].rating + r["b"].rating == pytest.approx(0.0, abs=1e-9)
    assert sum(x.rating for x in r.values()) == pytest.approx(0.0, abs=1e-9)
    assert r["a"].rating > r["b"].rating and r["d"].rating > r["c"].rating


def test_bad_records_rejected_and_empty_input() -> None:
    assert fit([]) == []
    with pytest.raises(ValueError):
        fit([("a", "a", 1, 0, 0)])
    with pytest.raises(ValueError):
        fit([("a", "b", -1, 0, 0)])
