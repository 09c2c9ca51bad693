"""Nash averaging: the max-entropy Nash equilibrium of an antisymmetric payoff matrix and the ratings it gives."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from arena import bradley_terry, nash

RPS = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])  # rock, paper, scissors


def records_from(players, a, games=100):
    """Records whose smoothed log-odds come close to `a` (wins split to give each pair its score)."""
    out = []
    for i in range(len(players)):
        for j in range(i + 1, len(players)):
            if a[i, j] or a[j, i]:
                wins = round(games / (1 + math.exp(-a[i, j])))
                out.append((players[i], players[j], wins, 0, games - wins))
    return out


def test_a_cycle_shares_the_mass_equally_and_a_dominated_player_gets_none():
    a = np.zeros((4, 4))
    a[:3, :3] = RPS
    a[3, :3], a[:3, 3] = -0.5, 0.5  # loses to all three
    p = nash.maxent_nash(a)
    assert p == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0], abs=1e-9)
    assert a @ p == pytest.approx([0, 0, 0, -0.5], abs=1e-9)
    # the same through game records, with the smoothing: every cyclic player 0, the dominated one below
    players = ["rock", "paper", "scissors", "weak"]
    rated = {r.player: r for r in nash.rate(records_from(players, a))}
    assert [rated[p].mass for p in players[:3]] == pytest.approx([1 / 3] * 3, abs=1e-6)
    assert rated["weak"].mass == 0 and rated["weak"].rating < -50
    assert all(rated[p].rating == 0 for p in players[:3])
    assert nash.rate(records_from(players, a))[-1].player == "weak"


def test_a_redundant_copy_changes_no_other_nash_rating_but_moves_field_averages():
    players = ["a", "b", "c", "d", "e"]
    records = [("a", "b", 60, 10, 30), ("a", "c", 20, 0, 80), ("b", "c", 70, 0, 30), ("a", "d", 90, 0, 10),
               ("b", "d", 80, 5, 15), ("c", "d", 55, 0, 45), ("e", "a", 10, 0, 90), ("e", "c", 40, 0, 60),
               ("e", "d", 50, 10, 40), ("b", "e", 75, 0, 25)]
    copy = [(r[0].replace("c", "c2"), r[1].replace("c", "c2"), *r[2:]) for r in records if "c" in r[:2]]
    copy.append(("c", "c2", 50, 0, 50))  # the copy is even with its original
    before = {r.player: r for r in nash.rate(records)}
    after = {r.player: r for r in nash.rate(records + copy)}
    for p in players:
        assert after[p].rating == pytest.approx(before[p].rating, abs=1e-6)
    assert after["c2"].rating == pytest.approx(after["c"].rating, abs=1e-6)
    assert after["c"].mass + after["c2"].mass == pytest.approx(before["c"].mass, abs=1e-6)  # c's mass is split
    assert after["c"].mass == pytest.approx(after["c2"].mass, abs=1e-6)

    def field_average(recs):  # each player's mean score over the field: what a rating against the field measures
        scores: dict[str, list[float]] = {}
        for x, y, wx, d, wy in recs:
            scores.setdefault(x, []).append((wx + d / 2) / (wx + d + wy))
            scores.setdefault(y, []).append((wy + d / 2) / (wx + d + wy))
        return {p: sum(s) / len(s) for p, s in scores.items()}

    moved = [p for p in players if p != "c"
             if abs(field_average(records + copy)[p] - field_average(records)[p]) > 0.01]
    assert moved  # the copy counts twice in a uniform average
    bt_before = {r.player: r.rating for r in bradley_terry.fit(records, bootstrap=0)}
    bt_after = {r.player: r.rating for r in bradley_terry.fit(records + copy, bootstrap=0)}
    assert max(abs(bt_after[p] - bt_before[p]) for p in players) > 1.0


def test_a_transitive_set_puts_all_mass_on_the_best_and_keeps_the_order():
    strength = np.array([1.5, 0.3, -0.2, -1.0, 0.8])
    a = strength[:, None] - strength[None, :]
    p = nash.maxent_nash(a)
    assert p == pytest.approx([1, 0, 0, 0, 0], abs=1e-9)
    assert np.argsort(-(a @ p)).tolist() == np.argsort(-strength).tolist()


def _entropy(q):
    q = q[q > 0]
    return float(-(q @ np.log(q)))


def _maxent_by_slsqp(a):
    k = len(a)

    def neg_entropy(q):
        q = np.clip(q, 1e-300, None)
        return float(q @ np.log(q)), np.log(q) + 1

    res = minimize(neg_entropy, np.full(k, 1 / k), jac=True, method="SLSQP", bounds=[(0, 1)] * k,
                   constraints=[{"type": "eq", "fun": lambda q: q.sum() - 1, "jac": lambda q: np.ones((1, k))},
                                {"type": "ineq", "fun": lambda q: -(a @ q), "jac": lambda q: -a}],
                   options={"ftol": 1e-14, "maxiter": 1000})
    return res.x


@pytest.mark.parametrize("seed", [0, 2])
def test_the_equilibrium_is_the_max_entropy_point_of_the_nash_polytope(seed, monkeypatch):
    """Against a direct SLSQP maximisation, on games built with near-copies so that the Nash set is more than a
    point; some of them make a player outside the support bind (the solver's inequality-constrained step)."""
    bounded = []  # games where a player outside the support binds (the inequality-constrained step)
    real = nash._active_set
    monkeypatch.setattr(nash, "_active_set", lambda *args: bounded.append(1) or real(*args))
    rng = np.random.default_rng(seed)
    for _ in range(12):
        k = int(rng.integers(4, 8))
        a = rng.integers(-3, 4, size=(k, k)).astype(float)
        a = a - a.T
        a[1, :], a[:, 1] = a[0, :], -a[0, :]  # player 1 copies player 0 ...
        a[0, 1] = a[1, 0] = a[1, 1] = 0.0
        d = float(rng.integers(1, 4))
        a[-1, 0], a[0, -1], a[-1, 1], a[1, -1] = a[-1, 0] + d, a[0, -1] - d, a[-1, 1] - d, a[1, -1] + d  # ... nearly
        p = nash.maxent_nash(a)
        assert p.sum() == pytest.approx(1) and p.min() >= 0 and (a @ p).max() <= 1e-8
        q = _maxent_by_slsqp(a)
        # the same point as SLSQP's, or a better one where SLSQP stops short (scipy 1.17's SLSQP does, on seed 0)
        assert p == pytest.approx(q, abs=1e-3) or _entropy(p) > _entropy(q)
        assert _entropy(p) >= _entropy(q) - 1e-7
    assert 0 < len(bounded) < 12


def test_the_payoff_matrix_is_smoothed_antisymmetric_log_odds():
    players, a, games = nash.payoff_matrix([("x", "y", 10, 0, 0), ("z", "y", 3, 2, 5)], ["x", "y", "z", "idle"])
    assert players == ["x", "y", "z", "idle"]
    assert a[0, 1] == pytest.approx(math.log(10.5 / 0.5)) and a[1, 0] == -a[0, 1]  # a perfect record stays finite
    assert a[2, 1] == pytest.approx(math.log(4.5 / 6.5))
    assert a[0, 2] == 0 and not a[3].any() and games[1].sum() == 20
    with pytest.raises(ValueError):
        nash.payoff_matrix([("x", "x", 1, 0, 0)])
    with pytest.raises(ValueError):
        nash.payoff_matrix([("x", "y", 1, 0, 0)], prior=0)


def test_edge_cases_and_scale():
    assert nash.rate([]) == []
    assert nash.maxent_nash(np.zeros((1, 1))) == pytest.approx([1])
    assert nash.maxent_nash(np.zeros((3, 3))) == pytest.approx([1 / 3] * 3)  # nobody met: all tied
    assert nash.maxent_nash(1e-6 * RPS) == pytest.approx(nash.maxent_nash(1e3 * RPS))
    with pytest.raises(ValueError):
        nash.maxent_nash(np.ones((2, 2)))
    only = nash.rate([("a", "b", 0, 4, 0)])
    assert [(r.rating, r.mass, r.games) for r in only] == [(0.0, 0.5, 4), (0.0, 0.5, 4)]


def test_the_l_bfgs_b_seed_gives_the_same_equilibrium(monkeypatch):
    """When the active-set method does not settle from the equalities alone, L-BFGS-B on the dual seeds it."""
    a = np.array([[0, 0, 0, -2, -4], [0, 0, 0, -2, 2], [0, 0, 0, 6, 0], [2, 2, -6, 0, -4], [4, -2, 0, 4, 0.0]])
    expected = nash.maxent_nash(a)
    assert (a @ expected)[4] == pytest.approx(0, abs=1e-9) and expected[4] == 0  # player 4 binds from outside
    real, calls = nash._active_set, []

    def first_fails(*args):
        calls.append(1)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(nash, "_active_set", first_fails)
    assert nash.maxent_nash(a) == pytest.approx(expected, abs=1e-9) and len(calls) == 2


def test_a_dense_matrix_that_stops_highs_presolve_still_gets_its_equilibrium():
    """HiGHS's presolve reports numerical difficulties on this 50-player matrix (status 4); the support LP then
    runs without it instead of failing `arena leaderboard --method nash`."""
    rng = np.random.default_rng(0)
    upper = np.triu(rng.uniform(-0.5, 0.5, size=(50, 50)), 1)
    a = upper - upper.T
    p = nash.maxent_nash(a)
    assert p.sum() == pytest.approx(1) and p.min() >= 0 and (a @ p).max() <= 1e-8
    assert nash.equilibrium_support(a) == np.flatnonzero(p > 1e-9).tolist()
