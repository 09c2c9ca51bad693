"""Tests of the SPRT: spec parsing, the GSPRT LLR against independent checks, Elo intervals, simulated error rates."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from arena.errors import UsageError
from arena.sprt import FORM, Sprt, SprtSpec, expected_score, fixed_games, llr, mle

DRAW = 0.3  # draw probability of one simulated game


def game_probs(elo: float, draw: float = DRAW) -> np.ndarray:
    """Loss, draw, win probabilities of one game at this logistic Elo advantage."""
    s = 1.0 / (1.0 + 10.0 ** (-elo / 400.0))  # written out here, independent of arena.sprt
    assert draw / 2 <= min(s, 1 - s)
    return np.array([1 - s - draw / 2, draw, s - draw / 2])


def pair_probs(elo: float, draw: float = DRAW) -> np.ndarray:
    """Pentanomial probabilities of a pair of two independent games: the cell is the sum of the two game cells."""
    p = game_probs(elo, draw)
    return np.convolve(p, p)


def simulate(spec: SprtSpec, elo: float, runs: int, rng: np.random.Generator, *, chunk: int = 32,
             max_pairs: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Pentanomial SPRTs checked after every pair: decision (+1 H1, -1 H0, 0 none) and pairs played, per run.

    Each chunk draws pairs for every run, finished or not, so run r's pairs depend only on rng and r.
    """
    lower, upper = spec.bounds()
    probs = pair_probs(elo)
    counts = np.zeros((runs, 5))
    decision = np.zeros(runs, dtype=int)
    played = np.full(runs, max_pairs)
    active = np.arange(runs)
    for start in range(0, max_pairs, chunk):
        cells = rng.choice(5, size=(runs, chunk), p=probs)[active]
        cum = counts[active, None, :] + np.cumsum(cells[..., None] == np.arange(5), axis=1)
        value = llr(cum, spec.elo0, spec.elo1)
        hit = (value >= upper) | (value <= lower)
        stopped = hit.any(axis=1)
        first = hit.argmax(axis=1)[stopped]
        runs_stopped = active[stopped]
        decision[runs_stopped] = np.where(value[stopped, first] >= upper, 1, -1)
        played[runs_stopped] = start + first + 1
        counts[active] = cum[:, -1]
        active = active[~stopped]
        if not len(active):
            break
    return decision, played


# Spec parsing ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("elo0=0,elo1=20,alpha=0.05,beta=0.05", SprtSpec(0.0, 20.0, 0.05, 0.05)),
    ("elo0=0,elo1=20", SprtSpec(0.0, 20.0)),
    (" elo1 = 5 , elo0=-1.5, beta=0.1 ", SprtSpec(-1.5, 5.0, 0.05, 0.1)),
    ("alpha=0.01,elo0=2,elo1=4.25", SprtSpec(2.0, 4.25, 0.01, 0.05)),
])
def test_parse_good_forms(text: str, expected: SprtSpec) -> None:
    spec = SprtSpec.parse(text)
    assert spec == expected
    assert SprtSpec.parse(str(spec)) == spec
    lower, upper = spec.bounds()
    assert lower == pytest.approx(math.log(spec.beta / (1 - spec.alpha)))
    assert upper == pytest.approx(math.log((1 - spec.beta) / spec.alpha))
    assert lower < 0 < upper


def test_str_is_canonical() -> None:
    assert str(SprtSpec.parse("elo1=20.0, elo0=0")) == "elo0=0,elo1=20,alpha=0.05,beta=0.05"


@pytest.mark.parametrize("text, problem", [
    ("elo0=0,elo1=20,gamma=0.1", "unknown key 'gamma'"),
    ("elo0=0", "missing elo1"),
    ("alpha=0.1", "missing elo0 and elo1"),
    ("elo0=zero,elo1=20", "elo0='zero' is not a number"),
    ("elo0=0,elo1=", "elo1='' is not a number"),
    ("elo0=0,elo1=nan", "elo1 must be a finite number"),
    ("elo0=10,elo1=10", "elo1 (10) must be greater than elo0 (10)"),
    ("elo0=10,elo1=0", "must be greater than elo0"),
    ("elo0=0,elo1=20,alpha=0.5", "alpha (0.5) must lie strictly between 0 and 0.5"),
    ("elo0=0,elo1=20,beta=0", "beta (0) must lie strictly between 0 and 0.5"),
    ("elo0=0,elo1=20,beta=-0.1", "beta (-0.1) must lie"),
    ("elo0=0,elo1=20,elo0=1", "elo0 given twice"),
    ("elo0=0 elo1=20", "is not a number"),
    ("elo0=0,,elo1=20", "'' is not key=value"),
    ("", "'' is not key=value"),
])
def test_parse_bad_forms(text: str, problem: str) -> None:
    with pytest.raises(UsageError) as info:
        SprtSpec.parse(text)
    message = str(info.value)
    assert problem in message
    assert FORM in message and repr(text) in message
    assert "\n" not in message


def test_direct_construction_is_checked() -> None:
    with pytest.raises(UsageError, match="elo1 .* must be greater than elo0"):
        SprtSpec(5.0, 0.0)
    with pytest.raises(UsageError, match="alpha"):
        SprtSpec(0.0, 5.0, alpha=0.7)


# The LLR ---------------------------------------------------------------------------------------------------------

def test_mle_meets_its_constraints_and_is_a_maximum() -> None:
    rng = np.random.default_rng(1)
    for k in (3, 5):
        a = np.linspace(0, 1, k)
        for _ in range(20):
            freq = rng.dirichlet(np.ones(k))
            s = rng.uniform(0.05, 0.95)
            p = mle(freq, s)
            assert np.all(p > 0)
            assert p.sum() == pytest.approx(1.0, abs=1e-9)
            assert p @ a == pytest.approx(s, abs=1e-9)
            # any feasible move (keeping the total and the mean) lowers the log-likelihood
            basis = np.linalg.svd(np.vstack([np.ones(k), a]))[2][2:]  # null space of the two constraints
            for d in basis:
                for step in (1e-4, -1e-4):
                    q = p + step * d
                    if np.all(q > 0):
                        assert freq @ np.log(q) < freq @ np.log(p)


def test_mle_batch_equals_one_by_one() -> None:
    freq = np.random.default_rng(2).dirichlet(np.ones(5), size=(3, 4))
    batch = mle(freq, 0.6)
    for i in range(3):
        for j in range(4):
            np.testing.assert_allclose(batch[i, j], mle(freq[i, j], 0.6), rtol=1e-12)


def test_no_results_gives_zero() -> None:
    sprt = Sprt(SprtSpec(0, 20))
    assert sprt.llr() == 0.0 and sprt.decision() is None and sprt.games == 0
    assert llr([0] * 5, 0, 20) == 0.0
    assert llr([0, 0, 0], 0, 20) == 0.0


@pytest.mark.parametrize("paired", [True, False])
def test_all_wins_accepts_h1_and_all_losses_h0(paired: bool) -> None:
    spec = SprtSpec(0, 20)
    for score, want in ((1.0, "H1"), (0.0, "H0")):
        sprt = Sprt(spec)
        for _ in range(500):
            if paired:
                sprt.add_pair(score, score)
            else:
                sprt.add_game(score)
            if sprt.decision():
                break
        assert sprt.decision() == want
        assert sprt.games < 400
        assert math.isfinite(sprt.llr())
        assert (sprt.llr() > 0) == (want == "H1")


def test_early_llrs_are_finite() -> None:
    sprt = Sprt(SprtSpec(0, 5))
    sprt.add_pair(1, 1)
    first = sprt.llr()
    sprt.add_game(0)
    assert math.isfinite(first) and first > 0 and math.isfinite(sprt.llr())


def test_score_at_s0_gives_negative_llr_and_at_s1_positive() -> None:
    # a mean score of exactly 1/2 is elo0 = 0
    assert llr([300, 400, 300], 0, 20) < -1.0
    assert llr([100, 200, 400, 200, 100], 0, 20) < -1.0
    # a pentanomial distribution symmetric around s1 = 5/8, i.e. elo1 = 400 log10(5/3)
    elo1 = 400 * math.log10(5 / 3)
    counts = [0, 10, 40, 40, 10]
    assert np.dot(counts, np.linspace(0, 1, 5)) / sum(counts) == pytest.approx(expected_score(elo1))
    assert llr(counts, 0, elo1) > 1.0
    assert llr(np.multiply(counts, 10), 0, elo1) > 10 * llr(counts, 0, elo1) * 0.9  # grows with the evidence


def test_llr_grows_linearly_at_fixed_frequencies() -> None:
    counts = np.array([50, 150, 300, 250, 80])
    once, ten = llr(counts, 0, 30), llr(10 * counts, 0, 30)
    assert ten == pytest.approx(10 * once, rel=1e-3)  # only the 1e-3 regularization breaks exact linearity


@pytest.mark.parametrize("wins, losses, elo0, elo1", [
    (5200, 4800, 0, 10), (3000, 7000, -50, -20), (10000, 8000, 0, 40), (400, 600, -20, 0), (6, 4, 0, 10), (3, 0, 0, 20),
])
def test_llr_without_draws_is_the_binomial_llr(wins: int, losses: int, elo0: float, elo1: float) -> None:
    # with no draws the constrained MLE puts mass s on a win, so the GSPRT reduces to the binomial LLR; the small
    # regularization of the empty draw cell (and of an empty loss cell) must not move it, even after a few games
    s0, s1 = (1 / (1 + 10 ** (-e / 400)) for e in (elo0, elo1))
    binomial = wins * math.log(s1 / s0) + losses * math.log((1 - s1) / (1 - s0))
    assert llr([losses, 0, wins], elo0, elo1) == pytest.approx(binomial, rel=1e-3, abs=1e-3)


def test_llr_symmetries() -> None:
    counts = np.array([30, 120, 210, 140, 40])
    value = llr(counts, -5, 15)
    assert llr(counts, 15, -5) == pytest.approx(-value, rel=1e-9)
    assert llr(counts[::-1], 5, -15) == pytest.approx(value, rel=1e-9)  # A and B swapped


def test_pairs_and_single_games_add_their_llrs() -> None:
    spec = SprtSpec(0, 10)
    sprt = Sprt(spec)
    for a, b in [(1, 0.5), (0.5, 0.5), (1, 1), (0, 1), (1, 0.5)]:
        sprt.add_pair(a, b)
    for g in (1, 0.5, 0, 1):
        sprt.add_game(g)
    assert sprt.pentanomial == [0, 0, 2, 2, 1] and sprt.trinomial == [1, 1, 2]
    assert sprt.pairs == 5 and sprt.games == 14
    assert sprt.llr() == pytest.approx(llr(sprt.pentanomial, 0, 10) + llr(sprt.trinomial, 0, 10))


def test_fractional_scores_go_to_the_nearest_cell() -> None:
    sprt = Sprt(SprtSpec(0, 10))
    sprt.add_pair(0.7, 0.6)  # mean 0.65: nearest 0.75
    sprt.add_pair(0.1, 0.2)  # mean 0.15: nearest 0.25
    sprt.add_game(0.8)  # nearest a win
    sprt.add_game(0.3)  # nearest a draw
    assert sprt.pentanomial == [0, 1, 0, 1, 0] and sprt.trinomial == [0, 1, 1]
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(UsageError, match="between 0 and 1"):
            sprt.add_game(bad)
        with pytest.raises(UsageError, match="between 0 and 1"):
            sprt.add_pair(1, bad)


# Elo estimate, report, fixed-length comparison -----------------------------------------------------------------

def test_elo_estimate_and_interval_match_the_sample() -> None:
    sprt = Sprt(SprtSpec(0, 10))
    pairs = [(1, 0.5)] * 30 + [(0.5, 0.5)] * 40 + [(0, 0.5)] * 10 + [(1, 1)] * 15 + [(0, 0)] * 5
    singles = [1] * 20 + [0.5] * 10 + [0] * 12
    for p in pairs:
        sprt.add_pair(*p)
    for g in singles:
        sprt.add_game(g)
    pair_sums = np.array([a + b for a, b in pairs])  # A's score over each pair
    singles_arr = np.array(singles, dtype=float)
    games = 2 * len(pairs) + len(singles)
    mean = (pair_sums.sum() + singles_arr.sum()) / games
    se = math.sqrt(len(pairs) * pair_sums.var() + len(singles) * singles_arr.var()) / games
    to_elo = lambda s: 400 * math.log10(s / (1 - s))  # noqa: E731
    estimate, lo, hi = sprt.elo()
    assert estimate == pytest.approx(to_elo(mean))
    assert lo == pytest.approx(to_elo(mean - 1.959964 * se), rel=1e-5)
    assert hi == pytest.approx(to_elo(mean + 1.959964 * se), rel=1e-5)


def test_elo_interval_covers_the_true_elo() -> None:
    rng = np.random.default_rng(3)
    true_elo, samples, pairs = 50.0, 300, 150
    counts = rng.multinomial(pairs, pair_probs(true_elo), size=samples)
    covered = 0
    for row in counts:
        sprt = Sprt(SprtSpec(0, 10))
        for cell, n in enumerate(row):
            for _ in range(n):
                sprt.add_pair(cell / 4, cell / 4)
        _, lo, hi = sprt.elo()
        covered += lo <= true_elo <= hi
    assert 0.90 <= covered / samples <= 0.99


def test_elo_of_extreme_results_is_finite() -> None:
    sprt = Sprt(SprtSpec(0, 10))
    assert all(math.isfinite(x) for x in sprt.elo())
    assert sprt.elo()[0] == 0.0 and sprt.elo()[1] < -1000 < 1000 < sprt.elo()[2]
    for _ in range(5):
        sprt.add_pair(1, 1)
    estimate, lo, hi = sprt.elo()
    assert all(math.isfinite(x) for x in (estimate, lo, hi)) and estimate > 1000


def test_to_dict() -> None:
    spec = SprtSpec(-2, 8, 0.1, 0.2)
    sprt = Sprt(spec)
    sprt.add_pair(1, 0.5)
    sprt.add_game(0)
    d = json.loads(json.dumps(sprt.to_dict()))
    assert set(d) == {"spec", "elo0", "elo1", "alpha", "beta", "llr", "lower", "upper", "decision", "games", "pairs",
                      "pentanomial", "trinomial", "elo", "elo_ci95"}
    assert SprtSpec.parse(d["spec"]) == spec
    assert (d["elo0"], d["elo1"], d["alpha"], d["beta"]) == (-2, 8, 0.1, 0.2)
    assert [d["lower"], d["upper"]] == pytest.approx(list(spec.bounds()))
    assert d["llr"] == pytest.approx(sprt.llr()) and d["decision"] is None
    assert (d["games"], d["pairs"], d["pentanomial"], d["trinomial"]) == (3, 1, [0, 0, 0, 1, 0], [1, 0, 0])
    assert d["elo_ci95"][0] <= d["elo"] <= d["elo_ci95"][1]


def test_fixed_games_has_the_stated_error_rates() -> None:
    spec = SprtSpec(0, 30, alpha=0.05, beta=0.1)
    probs0, probs1 = game_probs(0), game_probs(30)
    a = np.array([0, 0.5, 1])
    variance = probs0 @ a**2 - (probs0 @ a) ** 2
    n = fixed_games(spec, variance)
    assert fixed_games(spec, 4 * variance) == pytest.approx(4 * n, abs=4)
    assert fixed_games(SprtSpec(0, 15, 0.05, 0.1), variance) > 3.5 * n  # about 1 / gap^2
    # the matching fixed-length test: accept H1 when the mean score passes s0 + z(1 - alpha) * sigma / sqrt(n)
    threshold = 0.5 + 1.6448536 * math.sqrt(variance / n)
    rng = np.random.default_rng(4)
    runs = 4000
    means0 = rng.multinomial(n, probs0, size=runs) @ a / n
    means1 = rng.multinomial(n, probs1, size=runs) @ a / n
    margin = lambda p: 3 * math.sqrt(p * (1 - p) / runs)  # noqa: E731
    assert abs(np.mean(means0 > threshold) - 0.05) < margin(0.05)
    assert abs(np.mean(means1 <= threshold) - 0.1) < margin(0.1) + 0.01  # the normal approximation, slightly off
    with pytest.raises(UsageError):
        fixed_games(spec, 0.0)


# Error rates with simulated players ------------------------------------------------------------------------------

def test_simulated_error_rates_and_speed() -> None:
    spec = SprtSpec(0, 60, alpha=0.1, beta=0.1)
    runs = 400
    margin = lambda p: 3 * math.sqrt(p * (1 - p) / runs)  # noqa: E731
    results = {elo: simulate(spec, elo, runs, np.random.default_rng(10 + i))
               for i, elo in enumerate((0.0, 30.0, 60.0, 150.0))}
    for decision, _ in results.values():
        assert np.mean(decision == 0) < 0.01  # (almost) every run ends
    false_h1 = np.mean(results[0.0][0] == 1)
    false_h0 = np.mean(results[60.0][0] == -1)
    assert false_h1 <= spec.alpha + margin(spec.alpha)
    assert false_h0 <= spec.beta + margin(spec.beta)
    assert np.mean(results[150.0][0] == 1) >= 0.99
    assert 0.25 < np.mean(results[30.0][0] == 1) < 0.75  # the midpoint goes either way
    mean_pairs = {elo: played.mean() for elo, (_, played) in results.items()}
    assert mean_pairs[150.0] < mean_pairs[60.0] < mean_pairs[30.0]
    assert mean_pairs[0.0] < mean_pairs[30.0]


def test_sprt_class_follows_the_vectorized_llr() -> None:
    spec, elo, runs, chunk = SprtSpec(0, 60, alpha=0.1, beta=0.1), 40.0, 12, 32
    decisions, played = simulate(spec, elo, runs, np.random.default_rng(6), chunk=chunk)
    rng = np.random.default_rng(6)  # replay the same draws, pair by pair, through the Sprt class
    chunks = -(-played.max() // chunk)
    cells = np.hstack([rng.choice(5, size=(runs, chunk), p=pair_probs(elo)) for _ in range(chunks)])
    for run in range(runs):
        sprt = Sprt(spec)
        for cell in cells[run]:
            first = min(cell, 2)  # the pair's cell is the sum of its two games' cells (0 loss, 1 draw, 2 win)
            sprt.add_pair(first / 2, (cell - first) / 2)
            if sprt.decision():
                break
        assert sprt.decision() == {1: "H1", -1: "H0"}[decisions[run]]
        assert sprt.pairs == played[run]
