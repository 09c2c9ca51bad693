"""Meta-game views of a payoff table: the zero-sum LP's Nash mixture and α-Rank, as functions and as
`arena payoff --nash / --alpharank` on a store of real games."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arena import metagame, nash
from arena.errors import UsageError
from arena.services import payoff
from arena.services.recording import open_store

ARENA = str(Path(sys.executable).with_name("arena"))
RPS = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])  # rock, paper, scissors
ROCK, PAPER, SCISSORS = "constant", "constant:action=1", "constant:action=2"  # pettingzoo/rps_v2 policies


def antisymmetric(rng: np.random.Generator, k: int) -> np.ndarray:
    upper = np.triu(rng.uniform(-0.5, 0.5, size=(k, k)), 1)
    return upper - upper.T


def assert_equilibrium(a: np.ndarray, solution: metagame.ZeroSumSolution, tol: float = 1e-7) -> None:
    """The certificate of a zero-sum equilibrium, whatever solved it: the row mixture earns at least the value
    against every column, and no row earns more than the value against the column mixture."""
    for mix in (solution.row, solution.column):
        assert mix.min() >= 0 and mix.sum() == pytest.approx(1, abs=1e-12)
    assert (a.T @ solution.row).min() >= solution.value - tol
    assert (a @ solution.column).max() <= solution.value + tol


# -- the LP ---------------------------------------------------------------------------------------------------------
def test_a_cycle_gets_the_uniform_mixture_and_value_0():
    solution = metagame.solve_zero_sum(RPS)
    assert solution.row == pytest.approx([1 / 3] * 3, abs=1e-9)
    assert solution.column == pytest.approx([1 / 3] * 3, abs=1e-9)
    assert solution.value == pytest.approx(0, abs=1e-12)
    assert_equilibrium(RPS, solution)


def test_a_dominant_player_gets_all_the_mass():
    a = np.zeros((4, 4))
    a[:3, :3] = RPS * 0.2
    a[3, :3], a[:3, 3] = 0.1, -0.1  # beats all three, narrowly
    solution = metagame.solve_zero_sum(a)
    assert solution.row == pytest.approx([0, 0, 0, 1], abs=1e-12) and solution.value == pytest.approx(0, abs=1e-12)
    assert_equilibrium(a, solution)


def test_a_game_with_a_nonzero_value_matches_the_closed_form():
    # 2x2 without a saddle point: p = (d - c) / (a - b - c + d), value = (ad - bc) / (a - b - c + d)
    (x, y), (z, w) = m = np.array([[3.0, -1.0], [-2.0, 1.0]])
    solution = metagame.solve_zero_sum(m)
    denominator = x - y - z + w
    assert solution.row == pytest.approx([(w - z) / denominator, (x - y) / denominator], abs=1e-9)
    assert solution.column == pytest.approx([(w - y) / denominator, (x - z) / denominator], abs=1e-9)
    assert solution.value == pytest.approx((x * w - y * z) / denominator, abs=1e-9)
    # a saddle point: a pure strategy each
    saddle = metagame.solve_zero_sum(np.array([[4.0, 2.0, 3.0], [1.0, 0.0, 5.0]]))
    assert saddle.row == pytest.approx([1, 0]) and saddle.column == pytest.approx([0, 1, 0])
    assert saddle.value == pytest.approx(2)


@pytest.mark.parametrize("seed", range(5))
def test_random_games_meet_the_equilibrium_certificate_and_agree_with_nash_averaging(seed):
    rng = np.random.default_rng(seed)
    a = antisymmetric(rng, 7)
    solution = metagame.solve_zero_sum(a)
    assert solution.value == pytest.approx(0, abs=1e-9)  # a symmetric zero-sum game is fair
    assert_equilibrium(a, solution)
    # a generic antisymmetric matrix has one equilibrium: arena/nash.py's (support LP + entropy dual) is the same
    assert solution.row == pytest.approx(nash.maxent_nash(a), abs=1e-6)
    assert nash.equilibrium_support(a) == np.flatnonzero(solution.row).tolist()
    rectangular = rng.normal(size=(4, 6))
    assert_equilibrium(rectangular, metagame.solve_zero_sum(rectangular))


def test_a_copy_of_a_player_is_an_other_equilibrium_and_the_view_says_so():
    a = np.zeros((4, 4))
    a[:3, :3] = RPS * 0.3
    a[3], a[:, 3] = a[2], a[:, 2]  # player 3 is a copy of player 2 (and ties it)
    solution = metagame.solve_zero_sum(a)
    assert_equilibrium(a, solution)
    assert solution.row[2] + solution.row[3] == pytest.approx(1 / 3, abs=1e-9)
    assert nash.equilibrium_support(a) == [0, 1, 2, 3]
    names = ["rock", "paper", "scissors", "scissors2"]
    view = payoff.nash_view(table_of(names, 0.5 + a))
    zero = [r["player"] for r in view["mixture"] if r["mass"] == 0]
    assert view["also_in_equilibrium"] == zero and len(zero) == 1 and zero[0] in ("scissors", "scissors2")


def test_bad_matrices_are_refused():
    for bad in (np.zeros((0, 0)), np.array([[np.nan]]), np.zeros(3)):
        with pytest.raises(ValueError):
            metagame.solve_zero_sum(bad)
    with pytest.raises(ValueError):
        nash.equilibrium_support(np.array([[0.0, 1.0], [1.0, 0.0]]))  # not antisymmetric


# -- α-Rank ---------------------------------------------------------------------------------------------------------
def test_alpharank_on_a_cycle_is_uniform_and_on_a_chain_puts_the_mass_on_the_top():
    cycle = 0.5 + RPS / 2
    assert metagame.alpharank(cycle, alpha=100) == pytest.approx([1 / 3] * 3, abs=1e-9)
    chain = np.array([[0.5, 0.3, 0.2], [0.7, 0.5, 0.4], [0.8, 0.6, 0.5]])  # 2 beats 1 beats 0, 2 beats 0
    pi = metagame.alpharank(chain, alpha=100)
    assert pi[2] > 0.999 and pi.sum() == pytest.approx(1)
    gentle = metagame.alpharank(chain, alpha=0.5)  # weak selection: mass everywhere, in the chain's order
    assert gentle[2] > gentle[1] > gentle[0] > 0


def test_alpharank_of_two_players_matches_the_fixation_probabilities():
    """Two strategies: the chain moves 0 -> 1 with rho(1 invades 0) and back with rho(0 invades 1), so
    pi_1 / pi_0 = rho_10 / rho_01, rho = (1 - e^-u) / (1 - e^-mu), u = α (payoff[r, s] - payoff[s, r])."""
    score, alpha, m = 0.6, 2.0, metagame.POPULATION
    table = np.array([[0.5, 1 - score], [score, 0.5]])  # 1 beats 0 with 0.6

    def rho(u: float) -> float:
        return (1 - math.exp(-u)) / (1 - math.exp(-m * u))

    u = alpha * (2 * score - 1)
    pi = metagame.alpharank(table, alpha=alpha)
    assert pi[1] / pi[0] == pytest.approx(rho(u) / rho(-u), rel=1e-9)


def test_alpharank_refuses_an_alpha_that_overflows():
    chain = np.array([[0.5, 0.1], [0.9, 0.5]])
    assert metagame.max_alpha(chain) == pytest.approx(metagame.EXP_LIMIT / 0.8)
    with pytest.raises(ValueError, match="too large"):
        metagame.alpharank(chain, alpha=1000)
    assert metagame.alpharank(chain, alpha=800)[1] == pytest.approx(1)


def test_alpharank_needs_no_matplotlib():
    """OpenSpiel's alpharank module imports its plotting module, which imports matplotlib: Arena computes without
    it, and the plots, if anyone asks, say what to install."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"  # an import of matplotlib now fails, installed or not
        "import numpy as np\n"
        "from arena import metagame\n"
        "print(metagame.alpharank(np.array([[0.5, 0.2], [0.8, 0.5]]), alpha=10).round(6).tolist())\n"
        "try:\n    metagame.alpharank_module().alpharank_visualizer.NetworkPlot\n"
        "except ImportError as e:\n    print(e)\n"
        "try:\n    import open_spiel.python.egt.alpharank_visualizer\n"
        "except ImportError:\n    print('plots unavailable')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert json.loads(lines[0]) == pytest.approx([0, 1], abs=1e-6)
    assert "need matplotlib: pip install matplotlib" in lines[1] and lines[2] == "plots unavailable"


# -- the views over a payoff table ----------------------------------------------------------------------------------
def table_of(players: list[str], score: np.ndarray, games: np.ndarray | None = None, env: str = "x/y-v0") -> dict:
    """A payoff table as `arena payoff --json` holds it: None on the diagonal and for pairs that never met."""
    k = len(players)
    games = np.full((k, k), 10) - 10 * np.eye(k, dtype=int) if games is None else games
    return {"env": env, "players": players, "games": games.tolist(),
            "score": [[float(score[i, j]) if games[i, j] else None for j in range(k)] for i in range(k)]}


def test_pairs_that_never_met_count_as_ties_and_players_without_games_are_left_out():
    players = ["a", "b", "c", "idle"]
    score = np.array([[0.5, 0.8, 0.5], [0.2, 0.5, 0.6], [0.5, 0.4, 0.5]])
    games = np.array([[0, 10, 0, 0], [10, 0, 4, 0], [0, 4, 0, 0], [0, 0, 0, 0]])
    full = np.full((4, 4), 0.5)
    full[:3, :3] = score
    table = table_of(players, full, games)
    view = payoff.nash_view(table)
    assert view["missing_pairs"] == [["a", "c"]] and view["left_out"] == ["idle"]
    assert {r["player"]: r["games"] for r in view["mixture"]} == {"a": 10, "b": 14, "c": 4}
    assert sum(r["mass"] for r in view["mixture"]) == pytest.approx(1)
    # a beats b, ties c (never met), c beats b: a and c share the support, b is out; scores against the mixture
    assert {r["player"] for r in view["mixture"] if r["mass"] > 0} <= {"a", "c"}
    best = max(r["score"] for r in view["mixture"])
    assert best == pytest.approx(0.5, abs=1e-9) and view["value"] == pytest.approx(0, abs=1e-9)
    ranked = payoff.alpharank_view(table, alpha=50)
    assert ranked["ranking"][0]["player"] == "a" and ranked["ranking"][0]["mass"] > 0.9
    assert ranked["left_out"] == ["idle"] and ranked["alpha"] == 50 and ranked["missing_pairs"] == [["a", "c"]]


def test_fewer_than_two_players_is_one_line():
    lonely = table_of(["a", "b"], np.full((2, 2), 0.5), np.zeros((2, 2), dtype=int))
    with pytest.raises(UsageError, match="at least 2 players with games against each other; x/y-v0 has none"):
        payoff.nash_view(lonely)
    with pytest.raises(UsageError, match="too large for these payoffs"):
        payoff.alpharank_view(table_of(["a", "b"], np.array([[0.5, 1.0], [0.0, 0.5]])), alpha=10_000)


# -- `arena payoff --nash / --alpharank` on real games ---------------------------------------------------------------
def arena(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARENA, *args, "--db", db], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


def play(db: str, *players: str, n: int = 2, seed: int = 1) -> None:
    out = arena("match", "pettingzoo/rps_v2", *players, "-n", str(n), "-s", str(seed), db=db)
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, str]:
    """`cycle`: rock, paper and scissors (constant players) in a perfect cycle; `dominant`: the same games, then
    beat-last against each of them (it wins every one), and a tournament."""
    root = tmp_path_factory.mktemp("metagame")
    cycle, dominant = str(root / "cycle.db"), str(root / "dominant.db")
    for a, b in ((ROCK, PAPER), (PAPER, SCISSORS), (SCISSORS, ROCK)):
        play(cycle, a, b)
    Path(dominant).write_bytes(Path(cycle).read_bytes())
    for other in (ROCK, PAPER, SCISSORS):
        play(dominant, "beat-last", other, seed=2)
    out = arena("tournament", "pettingzoo/rps_v2", "beat-last", ROCK, PAPER, "--format", "gauntlet", "-n", "2",
                "-s", "3", "--name", "g", db=dominant)
    assert out.returncode == 0, out.stderr
    return {"cycle": cycle, "dominant": dominant, "root": str(root)}


def json_of(*args: str, db: str) -> dict:
    out = arena("payoff", *args, "--json", db=db)
    assert out.returncode == 0, out.stderr
    (doc,) = json.loads(out.stdout)
    return doc


def test_a_cycle_of_real_games_gives_the_uniform_mixture_and_ranking(stores):
    doc = json_of("--nash", db=stores["cycle"])
    assert doc["env"] == "pettingzoo/rps_v2" and doc["method"] == "nash" and doc["value"] == pytest.approx(0)
    assert {r["player"] for r in doc["mixture"]} == {ROCK, PAPER, SCISSORS}
    assert [r["mass"] for r in doc["mixture"]] == pytest.approx([1 / 3] * 3, abs=1e-9)
    assert all(r["score"] == pytest.approx(0.5) and r["games"] == 4 for r in doc["mixture"])
    assert doc["missing_pairs"] == [] and doc["left_out"] == [] and doc["also_in_equilibrium"] == []
    ranked = json_of("--alpharank", db=stores["cycle"])
    assert ranked["alpha"] == payoff.ALPHA and ranked["population"] == 50
    assert [r["rank"] for r in ranked["ranking"]] == [1, 1, 1]
    assert [r["mass"] for r in ranked["ranking"]] == pytest.approx([1 / 3] * 3, abs=1e-9)


def test_a_dominant_player_takes_the_mass_of_both_views(stores):
    doc = json_of("--nash", db=stores["dominant"])
    top = doc["mixture"][0]
    assert top["player"] == "beat-last" and top["mass"] == pytest.approx(1) and top["score"] == pytest.approx(0.5)
    assert sum(r["mass"] for r in doc["mixture"]) == pytest.approx(1)
    assert all(r["score"] < 0.5 for r in doc["mixture"][1:])  # each constant loses to beat-last
    ranked = json_of("--alpharank", "--alpha", "20", db=stores["dominant"])
    assert ranked["alpha"] == 20 and ranked["ranking"][0]["player"] == "beat-last"
    assert ranked["ranking"][0]["mass"] > 0.99 and sum(r["mass"] for r in ranked["ranking"]) == pytest.approx(1)
    # a tournament's own games: rock, paper and beat-last; paper never met rock there, a tie
    inside = json_of("--nash", "--tournament", "g", db=stores["dominant"])
    assert inside["tournament"] == "g" and {r["player"] for r in inside["mixture"]} == {"beat-last", ROCK, PAPER}
    assert inside["missing_pairs"] == [[ROCK, PAPER]] or inside["missing_pairs"] == [[PAPER, ROCK]]


def test_the_tables_say_what_the_numbers_mean(stores):
    out = arena("payoff", "--nash", "--tournament", "g", db=stores["dominant"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "# g: Nash mixture of the zero-sum game score - 0.5 (value +0.000)"
    assert lines[1].split("\t") == ["Player", "Mass", "Score vs mixture", "Games"]
    assert lines[2].split("\t")[:2] == ["beat-last", "1.000"]
    assert any(line.startswith("# 1 pair never met, counted as ties (0.5)") for line in lines)
    out = arena("payoff", "--alpharank", "--csv", db=stores["cycle"])
    assert out.stdout.splitlines()[0] == "rank,player,mass,games" and len(out.stdout.splitlines()) == 4


@pytest.mark.parametrize("args,fragment", [
    (["--nash", "--env", "openspiel/tic_tac_toe"], "Unknown env 'openspiel/tic_tac_toe'"),
    (["--nash", "--alpharank"], "Pick one of --nash and --alpharank."),
    (["--alpha", "5"], "--alpha goes with --alpharank."),
    (["--alpharank", "--alpha", "1e6"], "too large for these payoffs (exp overflows); pick an α of at most 700"),
    (["--nash", "--tournament", "nope"], "Unknown tournament 'nope'"),
])
def test_bad_input_is_one_line(stores, args, fragment):
    out = arena("payoff", *args, db=stores["dominant"])
    assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_an_empty_store_is_one_line(stores):
    empty = str(Path(stores["root"]) / "empty.db")
    open_store(empty).close()
    for view in ("--nash", "--alpharank"):
        out = arena("payoff", view, db=empty)
        assert out.returncode == 2 and "holds no rated games" in out.stderr and len(out.stderr.splitlines()) == 1
