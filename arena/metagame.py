"""Meta-game solvers over a payoff matrix of players: the Nash equilibrium of a two-player zero-sum matrix game by
linear programming, and OpenSpiel's α-Rank stationary distribution (Omidshafiei et al. 2019, "α-Rank: Multi-Agent
Evaluation by Evolution"). Pure functions of numpy arrays; `arena payoff --nash / --alpharank` build the arrays
from the store (arena/services/payoff.py).

Nash, against arena/nash.py: that module's Nash averaging takes the log-odds matrix of the players' records and
its unique maximum-entropy equilibrium. Here the matrix is whatever the caller passes (Arena passes score - 0.5),
and the equilibrium is the LP's: a vertex of the set of equilibria, so where there are several (two copies of one
player, exact ties) it is one of them; `nash.equilibrium_support` names the players that some other equilibrium
gives mass. Both read a pair that never met as a tie (0)."""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

MASS_FLOOR = 1e-9  # an LP or eigenvector mass below this is solver noise: 0
EXP_LIMIT = 700.0  # α-Rank's fixation probabilities take exp(-α Δ): beyond this, float64 overflows to inf and nan
POPULATION = 50  # α-Rank's population size m (OpenSpiel's default)


@dataclass(frozen=True)
class ZeroSumSolution:
    row: np.ndarray  # the row player's optimal mixture: maximises its worst-case payoff
    column: np.ndarray  # the column player's optimal mixture (the LP's dual)
    value: float  # the row player's payoff when both play them


def solve_zero_sum(a: np.ndarray) -> ZeroSumSolution:
    """The Nash equilibrium of the zero-sum game where the row player picks i, the column player j, and the row
    player gets a[i, j]: the LP max v subject to a^T p >= v, sum p = 1, p >= 0 (HiGHS, through scipy). The column
    player's mixture is the LP's dual (the multipliers of the constraints a^T p >= v)."""
    from scipy.optimize import linprog

    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or 0 in a.shape or not np.all(np.isfinite(a)):
        raise ValueError("need a non-empty finite payoff matrix")
    rows, cols = a.shape
    cost = np.zeros(rows + 1)
    cost[-1] = -1.0  # minimise -v
    upper = np.hstack([-a.T, np.ones((cols, 1))])  # v - (a^T p)_j <= 0 for every column j
    equal = np.append(np.ones(rows), 0.0)[None]
    for presolve in (True, False):  # as in nash._support: without presolve if it stops on numerical difficulties
        res = linprog(cost, A_ub=upper, b_ub=np.zeros(cols), A_eq=equal, b_eq=[1.0],
                      bounds=[(0, None)] * rows + [(None, None)], method="highs", options={"presolve": presolve})
        if res.status == 0:
            break
    else:  # a finite matrix game always has a solution
        raise RuntimeError(f"the zero-sum LP failed: {res.message}")
    return ZeroSumSolution(_mixture(res.x[:rows]), _mixture(-res.ineqlin.marginals), float(res.x[-1]))


def _mixture(x: np.ndarray) -> np.ndarray:
    """A solver's probability vector with its noise removed: masses below MASS_FLOOR set to 0, the rest summing
    to 1."""
    p = np.where(np.asarray(x, dtype=float) > MASS_FLOOR, x, 0.0)
    return p / p.sum()


def alpharank(payoff: np.ndarray, alpha: float, population: int = POPULATION) -> np.ndarray:
    """α-Rank's stationary distribution over the strategies of a symmetric two-player game (one population),
    payoff[i, j] being i's payoff against j: OpenSpiel's `alpharank.compute` with its default local selection
    model, so a mutant r invading a population of s takes over with a probability that grows with
    α (payoff[r, s] - payoff[s, r]). A ValueError when α is so large that exp overflows for this matrix, or the
    chain has several stationary distributions."""
    payoff = np.asarray(payoff, dtype=float)
    k = payoff.shape[0]
    if payoff.shape != (k, k) or k == 0 or not np.all(np.isfinite(payoff)):
        raise ValueError("need a non-empty finite square payoff matrix")
    if not alpha > 0:
        raise ValueError(f"α must be above 0, not {alpha}")
    if alpha > max_alpha(payoff):
        raise ValueError(f"α = {alpha:g} is too large for these payoffs: exp overflows above "
                         f"α = {max_alpha(payoff):.4g}")
    module = alpharank_module()
    with np.errstate(over="ignore"):  # exp(-m α Δ) overflows to inf for a clear win: a fixation probability of 0
        pi = module.compute([payoff], m=population, alpha=alpha)[2]
    pi = np.real(np.asarray(pi, dtype=float))
    if not np.all(np.isfinite(pi)):
        raise ValueError(f"α-Rank gave no distribution at α = {alpha:g}; try a smaller α")
    return _mixture(np.clip(pi, 0.0, None))


def max_alpha(payoff: np.ndarray) -> float:
    """The largest α that α-Rank can take on this matrix in float64: exp(α Δ) overflows beyond EXP_LIMIT, Δ being
    the largest payoff gap payoff[r, s] - payoff[s, r]."""
    gap = float(np.abs(payoff - payoff.T).max(initial=0.0))
    return EXP_LIMIT / gap if gap > 0 else float("inf")


def alpharank_module() -> Any:
    """open_spiel.python.egt.alpharank without matplotlib: the module imports its plotting module at the top, and
    that imports matplotlib (an optional dependency, not installed with Arena); the computing functions never use
    it. When matplotlib (or networkx) is missing, a stand-in takes the plotting module's place for the import, and
    any use of it says what to install."""
    try:
        from open_spiel.python.egt import alpharank as module
        return module
    except ImportError as e:
        if (e.name or "").partition(".")[0] not in ("matplotlib", "networkx"):
            raise
        missing = e.name
    name = "open_spiel.python.egt.alpharank_visualizer"
    stand_in = types.ModuleType(name, "α-Rank's plots, which need matplotlib and networkx (not installed).")

    def plots(attr: str) -> Any:
        raise ImportError(f"α-Rank's plots need {missing}: pip install matplotlib networkx")

    stand_in.__getattr__ = plots  # type: ignore[method-assign]
    sys.modules[name] = stand_in
    try:
        from open_spiel.python.egt import alpharank as module
    finally:
        del sys.modules[name]  # the module keeps its reference; a later import of the plots fails as it should
    return module
