"""Nash averaging (Balduzzi, Tuyls, Perolat and Graepel, "Re-evaluating evaluation", NeurIPS 2018).

The empirical payoff matrix A of a set of players is antisymmetric: A[i, j] is the log-odds of i's score against j,
and A[j, i] = -A[i, j]. It defines a symmetric two-player zero-sum game (the row player picks a player i, the column
player a player j, the row player gets A[i, j]) whose value is 0. Its Nash equilibria are the mixtures

    P = {p in the simplex : (A p)_i <= 0 for every i}

(p is optimal when no pure strategy i earns more than the value 0 against it). P is a polytope; the maximum-entropy
point of P is unique, and it is the equilibrium Nash averaging uses. A player's Nash rating is its payoff against that
mixture, n = A p: 0 for every player in the support (p_i > 0), negative for the others. Adding a copy of a player
(the same results against everyone) splits that player's mass between the two and leaves A p, so every other rating,
unchanged; a cycle (rock, paper, scissors) gets equal mass; a dominated player gets none.

Computed in two steps:
1. The support S of P: the players with positive mass in some equilibrium (the support of a point in P's relative
   interior), from one linear program. Every equilibrium gives every player in S payoff exactly 0 (equilibria of a
   zero-sum game are interchangeable), so on S the constraints are equalities.
2. The maximum-entropy point over S: max -sum p log p subject to sum p = 1, A[S, S] p = 0 and A[T, S] p <= 0
   (T: the players outside S). Its Lagrangian dual is smooth and convex, min over (lam, mu >= 0) of
   log sum_k exp(z_k) with z = A[S, S]^T lam - A[T, S]^T mu, and p = softmax(z). Usually no player outside S
   binds (mu = 0) and damped Newton on lam alone solves it. Otherwise an active-set method: Newton with the binding
   players' constraints as equalities, adding the most violated and dropping any with a negative multiplier until
   the KKT conditions hold; should that not settle, L-BFGS-B on (lam, mu) seeds it once more.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from arena.bradley_terry import pair_totals

ELO = 400.0 / math.log(10.0)  # Elo points per unit of log-odds
PRIOR = 1.0  # virtual games per pair that played: half a win to each side, so a perfect record stays finite
TOL = 1e-11  # on constraint violations, with A scaled to max |A| = 1
MAX_ITER = 200
SUPPORT_FLOOR = 1e-6  # a player needs at least this mass in some equilibrium to count as in the support


@dataclass(frozen=True)
class NashRating:
    player: str
    rating: float  # payoff against the max-entropy Nash mixture, in Elo points: 0 in the support, negative outside
    mass: float  # the player's probability in the max-entropy Nash mixture
    games: int  # games this player appears in (sum over records)


def payoff_matrix(records: Iterable[tuple[str, str, float, float, float]], players: Sequence[str] | None = None,
                  *, prior: float = PRIOR) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(players, A, games) from (player_a, player_b, wins_a, draws, wins_b) records (merged per pair, either order).

    A[i, j] = log((W + D/2 + prior/2) / (L + D/2 + prior/2)), the log-odds of i's score against j after `prior`
    virtual games split evenly; 0 for pairs that never played. `players` fixes the order and may name players
    without games (their rows are 0)."""
    if prior <= 0:
        raise ValueError("prior must be > 0: a perfect record would have infinite log-odds")
    totals = pair_totals(records)
    names = list(players) if players is not None else sorted({p for key in totals for p in key})
    index = {p: i for i, p in enumerate(names)}
    k = len(names)
    a_matrix, games = np.zeros((k, k)), np.zeros((k, k))
    for (a, b), (wa, d, wb) in totals.items():
        if a not in index or b not in index or wa + d + wb == 0:
            continue
        i, j = index[a], index[b]
        x = math.log((wa + d / 2 + prior / 2) / (wb + d / 2 + prior / 2))
        a_matrix[i, j], a_matrix[j, i] = x, -x
        games[i, j] = games[j, i] = wa + d + wb
    return names, a_matrix, games


def maxent_nash(a: np.ndarray) -> np.ndarray:
    """The maximum-entropy Nash equilibrium p of the symmetric zero-sum game with antisymmetric payoff matrix a."""
    a = _scaled(a)
    k = a.shape[0]
    if k <= 1:
        return np.ones(k)
    support = _support(a)
    p = np.zeros(k)
    p[support] = _maxent(a, support)
    return p


def equilibrium_support(a: np.ndarray) -> list[int]:
    """The players with mass in some Nash equilibrium of the symmetric zero-sum game with antisymmetric payoff
    matrix a (the union of the equilibria's supports), in index order."""
    a = _scaled(a)
    return sorted(_support(a).tolist()) if a.shape[0] > 1 else list(range(a.shape[0]))


def _scaled(a: np.ndarray) -> np.ndarray:
    """a, checked to be a finite antisymmetric square matrix, scaled to max |a| = 1: equilibria do not depend on
    the scale; the solvers' tolerances do."""
    a = np.asarray(a, dtype=float)
    k = a.shape[0] if a.ndim else -1
    if a.shape != (k, k) or not np.allclose(a, -a.T, atol=1e-9) or not np.all(np.isfinite(a)):
        raise ValueError("need a finite antisymmetric square payoff matrix")
    return a / max(float(np.abs(a).max(initial=0.0)), 1e-300)


def _support(a: np.ndarray) -> np.ndarray:
    """Indices of the players with mass >= SUPPORT_FLOOR in some equilibrium: one LP over (y, t),
    max sum t subject to y in the simplex, A y <= 0, SUPPORT_FLOOR * t <= y, 0 <= t <= 1. A mixture of equilibria
    is an equilibrium, so the optimum sets t_i = 1 for every player that some equilibrium can give enough mass."""
    from scipy.optimize import linprog

    k = a.shape[0]
    eye = np.eye(k)
    cost = np.concatenate([np.zeros(k), -np.ones(k)])
    upper = np.block([[a, np.zeros((k, k))], [-eye, SUPPORT_FLOOR * eye]])
    equal = np.concatenate([np.ones(k), np.zeros(k)])[None]
    for presolve in (True, False):  # HiGHS's presolve can stop on numerical difficulties (status 4) that the
        # solver without it gets through: 3 of 30 random dense 50-200-player matrices
        res = linprog(cost, A_ub=upper, b_ub=np.zeros(2 * k), A_eq=equal, b_eq=[1.0],
                      bounds=[(0, None)] * k + [(0, 1)] * k, method="highs",
                      options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10,
                               "presolve": presolve})
        if res.status == 0:
            break
    else:  # cannot happen for an antisymmetric matrix (an equilibrium always exists)
        raise RuntimeError(f"Nash support LP failed: {res.message}")
    support = np.flatnonzero(res.x[k:] > 0.5)
    return support if len(support) else np.array([int(np.argmax(res.x[:k]))])


def _maxent(a: np.ndarray, support: np.ndarray) -> np.ndarray:
    """The maximum-entropy mixture over `support` with A[S, S] p = 0 and A[T, S] p <= 0, from its convex dual.

    Newton's method on the equalities alone first (the usual case: the players outside the support stay strictly
    below 0 against that mixture); if one of them would not, the active-set method, then L-BFGS-B on the whole dual
    to seed it if needed."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp, softmax

    outside = np.setdiff1d(np.arange(a.shape[0]), support)
    equal = a[np.ix_(support, support)]
    rest = a[np.ix_(outside, support)]
    if not np.any(equal):
        p = np.full(len(support), 1.0 / len(support))
    else:
        lam, _ = _newton(equal)  # feasible: S is the support of a point in P's relative interior
        p = softmax(equal.T @ lam)
    if not len(outside) or np.max(rest @ p) <= TOL:
        return p
    # z = C^T v with v = (lam, mu), mu >= 0: rows of C are the constraints, equalities first
    c = np.vstack([equal, -rest])
    start = np.concatenate([lam if np.any(equal) else np.zeros(len(support)), np.zeros(len(outside))])
    p = _active_set(c, len(support), start, set())
    if p is not None:
        return p

    def dual(v: np.ndarray) -> tuple[float, np.ndarray]:
        z = c.T @ v
        return float(logsumexp(z)), c @ softmax(z)

    bounds = [(None, None)] * len(support) + [(0, None)] * len(outside)
    res = minimize(dual, start, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 5_000, "maxcor": 50, "ftol": 1e-13, "gtol": 1e-8})
    p = _active_set(c, len(support), res.x, set(np.flatnonzero(res.x[len(support):] > 0).tolist()))
    return p if p is not None else softmax(c.T @ res.x)  # L-BFGS-B's answer alone is good to ~1e-8


def _active_set(c: np.ndarray, n_eq: int, v: np.ndarray, binding: set[int]) -> np.ndarray | None:
    """Newton on the equalities and the inequalities in `binding` (as equalities), adding the most violated one or
    dropping the one whose multiplier is most negative, until neither is left: then the KKT conditions hold and p is
    the optimum. A constraint that cannot bind together with the others (Newton does not converge) is passed over
    for the next most violated. None if that does not settle."""
    from scipy.special import softmax

    skip: set[int] = set()
    added: int | None = None
    for _ in range(4 * (c.shape[0] - n_eq) + 4):
        held = sorted(binding)
        rows = np.concatenate([np.arange(n_eq), n_eq + np.array(held, dtype=int)])
        sub, converged = _newton(c[rows], v[rows])
        if not converged:  # the warm start may be far off after a change: once more from the start
            sub, converged = _newton(c[rows])
        if not converged:
            if added is None:
                return None
            binding.discard(added)
            skip.add(added)
        else:
            p = softmax(c[rows].T @ sub)
            mu = sub[n_eq:]
            v = np.zeros(c.shape[0])
            v[rows] = sub
            skip = set()
            if len(mu) and mu.min() < -TOL:
                binding.discard(held[int(np.argmin(mu))])
                added = None
                continue
            slack = -(c[n_eq:] @ p)  # (A[T, S] p)_j: must be <= 0
        violated = [j for j in np.argsort(-slack).tolist() if slack[j] > TOL and j not in binding and j not in skip]
        if not violated:
            return p if converged and slack.max() <= TOL else None
        added = violated[0]
        binding.add(added)
    return None


def _newton(c: np.ndarray, start: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """argmin over lam of log sum exp(C^T lam): at the minimum, p = softmax(C^T lam) has C p = 0 with maximum
    entropy. Damped Newton; the Hessian C (diag p - p p^T) C^T is singular along directions that leave p unchanged,
    so each step is a least-squares solve. Returns (lam, converged): an infeasible C p = 0 (no p > 0) runs off to
    infinity and does not converge."""
    from scipy.special import logsumexp, softmax

    lam = np.zeros(c.shape[0]) if start is None else start
    f = float(logsumexp(c.T @ lam))
    for _ in range(MAX_ITER):
        p = softmax(c.T @ lam)
        g = c @ p
        if np.max(np.abs(g)) < TOL:
            return lam, True
        cp = c * p
        hess = cp @ c.T - np.outer(g, g)
        step = -np.linalg.lstsq(hess, g, rcond=1e-12)[0]
        size = 1.0
        while size > 1e-10:
            new = float(logsumexp(c.T @ (lam + size * step)))
            if new <= f - 1e-4 * size * abs(float(g @ step)):
                break
            size *= 0.5
        lam, f = lam + size * step, new
    p = softmax(c.T @ lam)
    return lam, bool(np.max(np.abs(c @ p)) < TOL)


def rate(records: Iterable[tuple[str, str, float, float, float]], players: Sequence[str] | None = None,
         *, prior: float = PRIOR) -> list[NashRating]:
    """Nash-average ratings of the players of `records` (or of `players`, in that order of ties), best first:
    rating = (A p)_i in Elo points for the max-entropy Nash mixture p, with the mass p_i beside it."""
    names, a, games = payoff_matrix(records, players, prior=prior)
    if not names:
        return []
    p = maxent_nash(a)
    n = a @ p
    n[np.abs(n) <= 1e-9 * max(1.0, float(np.abs(a).max()))] = 0.0  # the support: exactly 0 (the solver leaves ~TOL)
    out = [NashRating(name, float(n[i] * ELO) + 0.0, float(p[i]), int(round(games[i].sum())))
           for i, name in enumerate(names)]
    return sorted(out, key=lambda r: (-r.rating, -r.mass))
