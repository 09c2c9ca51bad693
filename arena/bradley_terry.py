"""Order-independent ratings: a Bradley-Terry maximum-likelihood fit over pairwise records, with bootstrap intervals."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

ELO = 400.0 / math.log(10.0)  # Elo points per unit of natural log-strength
TOL = 1e-10  # convergence tolerance on log-strengths
MAX_ITER = 100
STEPS = 0.5 ** np.arange(11)  # line-search step sizes, largest first (halved per failed try)


@dataclass(frozen=True)
class BTRating:
    player: str
    rating: float  # Elo scale: 400*log10(strength), players' mean rating is 0
    lo: float  # 95% bootstrap percentile interval (2.5%, 97.5%)
    hi: float
    games: int  # games this player appears in (sum over records)



def pair_totals(records: Iterable[tuple[str, str, float, float, float]]) -> dict[tuple[str, str], np.ndarray]:
    """(player_a, player_b, wins_a, draws, wins_b) records merged per pair: {(a, b) with a < b: [wins_a, draws,
    wins_b]}, in either order given. A record of a player against itself or with negative counts is an error."""
    pairs: dict[tuple[str, str], np.ndarray] = {}
    for a, b, wins_a, draws, wins_b in records:
        counts = np.array([wins_a, draws, wins_b], dtype=float)
        if a == b or not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ValueError(f"bad record {(a, b, wins_a, draws, wins_b)!r}: need two players and counts >= 0")
        key, counts = ((a, b), counts) if a < b else ((b, a), counts[::-1])
        pairs[key] = pairs.get(key, 0.0) + counts
    return pairs

def fit(records: Iterable[tuple[str, str, float, float, float]], *, bootstrap: int = 200, seed: int = 0,
        prior: float = 1.0) -> list[BTRating]:
    """records: (player_a, player_b, wins_a, draws, wins_b) aggregated per pair (a pair may appear more than once
    and in either order; merge them). Returns ratings sorted best first.

    Model: P(a beats b) = p_a / (p_a + p_b), a draw counting half a win to each side; fit by damped Newton on
    log-strengths. `prior` adds that many virtual draws to every pair that played, so a player that won (or lost)
    every game still gets a finite rating; prior=0 disables it, and then a perfect record runs to the iteration cap
    and gives a large, arbitrary rating. Groups of players that never met each other (directly or through others)
    cannot be compared, so each group is centred on 0, which also makes the overall mean 0. The intervals come from
    `bootstrap` refits on each pair's games resampled with replacement (a stratified bootstrap), seeded by `seed`.
    """
    pairs = {key: c for key, c in pair_totals(records).items() if c.sum() > 0}
    players = sorted({p for key in pairs for p in key})
    if not players:
        return []
    index = {p: i for i, p in enumerate(players)}
    keys = sorted(pairs)
    first = np.array([index[a] for a, _ in keys])
    second = np.array([index[b] for _, b in keys])
    counts = np.array([pairs[k] for k in keys])  # (pairs, 3): wins of first, draws, wins of second
    totals = counts.sum(axis=1)
    games = np.zeros(len(players))
    np.add.at(games, first, totals)
    np.add.at(games, second, totals)

    incidence = np.zeros((len(keys), len(players)))  # +1 for the first player of a pair, -1 for the second
    incidence[np.arange(len(keys)), first] = 1.0
    incidence[np.arange(len(keys)), second] = -1.0
    labels = _components(len(players), first, second)
    same_group = (labels[:, None] == labels[None, :]).astype(float)

    def solve(c: np.ndarray, start: np.ndarray) -> np.ndarray:
        score = c[..., 0] + 0.5 * c[..., 1] + 0.5 * prior  # (batch, pairs): points of the first player
        n = c.sum(axis=-1) + prior
        return _newton(score, n, first, second, incidence, same_group, labels, start)

    theta = solve(counts[None], np.zeros((1, len(players))))[0]
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        resampled = rng.multinomial(np.rint(totals).astype(np.int64), counts / totals[:, None],
                                    size=(bootstrap, len(keys))).astype(float)
        samples = solve(resampled, np.tile(theta, (bootstrap, 1))) * ELO
        lo, hi = np.percentile(samples, [2.5, 97.5], axis=0)
    else:
        lo = hi = theta * ELO
    out = [BTRating(p, float(theta[i] * ELO), float(lo[i]), float(hi[i]), int(round(games[i])))
           for i, p in enumerate(players)]
    return sorted(out, key=lambda r: (-r.rating, r.player))


def _components(k: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Label each player with the smallest index of the group of players connected to it by games."""
    parent = list(range(k))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(first.tolist(), second.tolist()):
        ri, rj = root(i), root(j)
        parent[max(ri, rj)] = min(ri, rj)
    return np.array([root(i) for i in range(k)])


def _loglik(theta: np.ndarray, score: np.ndarray, n: np.ndarray, first: np.ndarray,
            second: np.ndarray) -> np.ndarray:
    x = theta[..., first] - theta[..., second]  # log-strength differences, (batch, pairs)
    return (score * x - n * np.logaddexp(0.0, x)).sum(axis=-1)


def _newton(score: np.ndarray, n: np.ndarray, first: np.ndarray, second: np.ndarray, incidence: np.ndarray,
            same_group: np.ndarray, labels: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Maximise the likelihood of a batch of fits at once; each group of connected players stays centred on 0."""
    # Adding same_group to the Hessian pins each group's mean (the gradient sums to 0 within a group); the tiny
    # ridge keeps the solve defined when prior=0 and a perfect record flattens the likelihood.
    k = len(labels)
    fixed = same_group + 1e-9 * np.eye(k)
    diagonal = np.arange(k)
    theta = _centre(theta, labels)
    for _ in range(MAX_ITER):
        p = 0.5 * (1.0 + np.tanh(0.5 * (theta[..., first] - theta[..., second])))  # P(first beats second)
        grad = (score - n * p) @ incidence
        # The Hessian is a weighted graph Laplacian: each pair touches only its two players.
        w = n * p * (1.0 - p)
        hess = np.zeros((theta.shape[0], k, k))
        hess[:, first, second] = -w
        hess[:, second, first] = -w
        hess[:, diagonal, diagonal] = w @ np.abs(incidence)
        step = np.linalg.solve(hess + fixed, grad[..., None])[..., 0]
        old = _loglik(theta, score, n, first, second)
        size = np.ones(theta.shape[0])
        for _ in range(len(STEPS)):  # backtrack only the fits whose step lowered the likelihood
            new = _loglik(theta + size[:, None] * step, score, n, first, second)
            worse = new < old - 1e-12 * (1.0 + np.abs(old))
            if not worse.any():
                break
            size[worse] *= 0.5
        theta = theta + size[:, None] * step
        if np.max(np.abs(step)) < TOL:
            break
    return _centre(theta, labels)


def _centre(theta: np.ndarray, labels: np.ndarray) -> np.ndarray:
    theta = theta.copy()
    for group in np.unique(labels):
        members = labels == group
        theta[..., members] -= theta[..., members].mean(axis=-1, keepdims=True)
    return theta
