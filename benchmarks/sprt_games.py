"""Games an SPRT needs against a fixed-length test with the same error rates, for simulated players.

For each true Elo difference (elo0, the midpoint, elo1, 2 * elo1) the script runs many pentanomial SPRTs
(arena.sprt, the fishtest GSPRT, checked after every game pair) between two simulated players. A pair is two
independent games, each drawn with probability --draw and otherwise won or lost so that the expected score is the
logistic Elo score. It reports the share of runs that accepted H1, the observed error rate (false H1 at elo0, false
H0 at elo1), the mean and 90th-percentile games to a decision, and the games a fixed-length one-sided test needs to
tell elo0 from elo1 at the same alpha and beta (arena.sprt.fixed_games, normal approximation, with the per-game
variance measured from the pairs simulated at that Elo: twice the variance of a pair's mean score). The last column
is mean SPRT games / fixed-length games: below 1, the SPRT is cheaper on average.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from arena.errors import UsageError
from arena.sprt import PENTANOMIAL, SprtSpec, expected_score, fixed_games, llr


def pair_probs(elo: float, draw: float) -> np.ndarray:
    """Pentanomial cell probabilities of two independent games at this Elo advantage."""
    s = expected_score(elo)
    if draw / 2 > min(s, 1 - s):
        raise SystemExit(f"--draw {draw} is too high for a true Elo of {elo:g} (expected score {s:.3f}).")
    game = np.array([1 - s - draw / 2, draw, s - draw / 2])  # loss, draw, win
    return np.convolve(game, game)  # the pair's cell is the sum of its two games' cells


def simulate(spec: SprtSpec, elo: float, runs: int, draw: float, rng: np.random.Generator, max_pairs: int,
             chunk: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per run: decision (+1 H1, -1 H0, 0 none by max_pairs) and pairs played; and the cell counts of all pairs."""
    lower, upper = spec.bounds()
    probs = pair_probs(elo, draw)
    counts = np.zeros((runs, 5))
    decision = np.zeros(runs, dtype=int)
    played = np.full(runs, max_pairs)
    active = np.arange(runs)
    start = 0
    while start < max_pairs and len(active):
        size = min(chunk, max_pairs - start)
        cells = rng.choice(5, size=(len(active), size), p=probs)
        cum = counts[active, None, :] + np.cumsum(cells[..., None] == np.arange(5), axis=1)
        value = llr(cum, spec.elo0, spec.elo1)
        hit = (value >= upper) | (value <= lower)
        stopped = hit.any(axis=1)
        last = np.where(stopped, hit.argmax(axis=1), size - 1)  # the pair each run stopped at, or the chunk's end
        counts[active] = cum[np.arange(len(active)), last]
        decision[active[stopped]] = np.where(value[stopped, last[stopped]] >= upper, 1, -1)
        played[active[stopped]] = start + last[stopped] + 1
        active = active[~stopped]
        start += size
    return decision, played, counts.sum(axis=0)


def measure(spec: SprtSpec, runs: int, draw: float, seed: int, max_pairs: int) -> dict[str, Any]:
    rows = []
    elos = [spec.elo0, (spec.elo0 + spec.elo1) / 2, spec.elo1, 2 * spec.elo1]
    for i, elo in enumerate(elos):
        begin = time.perf_counter()
        decision, pairs, cells = simulate(spec, elo, runs, draw, np.random.default_rng([seed, i]), max_pairs)
        games = 2 * pairs
        freq = cells / cells.sum()
        pair_var = float(freq @ PENTANOMIAL**2 - (freq @ PENTANOMIAL) ** 2)
        fixed = fixed_games(spec, 2 * pair_var)
        error = ("false H1", float(np.mean(decision == 1))) if elo <= spec.elo0 else \
            ("false H0", float(np.mean(decision == -1))) if elo >= spec.elo1 else (None, None)
        rows.append({"elo": elo, "expected_score": expected_score(elo), "h1_rate": float(np.mean(decision == 1)),
                     "undecided": int(np.sum(decision == 0)), "error_kind": error[0], "error_rate": error[1],
                     "mean_games": float(games.mean()), "p90_games": float(np.percentile(games, 90)),
                     "variance_per_game": 2 * pair_var, "fixed_games": fixed, "ratio": float(games.mean()) / fixed,
                     "seconds": time.perf_counter() - begin})
    return {"spec": str(spec), "draw": draw, "runs": runs, "seed": seed, "max_pairs": max_pairs, "rows": rows}


def print_table(out: dict[str, Any]) -> None:
    spec = SprtSpec.parse(out["spec"])
    lower, upper = spec.bounds()
    print(f"SPRT {out['spec']}  (LLR bounds {lower:.3f}, {upper:.3f}), pentanomial pairs of independent games, "
          f"draw rate {out['draw']:g}, {out['runs']} runs per row, seed {out['seed']}")
    header = ["true elo", "score", "accept H1", "error (nominal)", "SPRT mean", "SPRT p90", "fixed N", "mean/fixed"]
    lines = []
    for r in out["rows"]:
        nominal = spec.alpha if r["error_kind"] == "false H1" else spec.beta
        error = f"{r['error_kind']} {r['error_rate']:.3f} ({nominal:g})" if r["error_kind"] else "-"
        lines.append([f"{r['elo']:g}", f"{r['expected_score']:.4f}", f"{r['h1_rate']:.3f}", error,
                      f"{r['mean_games']:.0f}", f"{r['p90_games']:.0f}", f"{r['fixed_games']}", f"{r['ratio']:.2f}"])
    widths = [max(len(row[c]) for row in [header, *lines]) for c in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(v.ljust(w) if c == 3 else v.rjust(w) for c, (v, w) in enumerate(zip(row, widths)))

    print(fmt(header))
    print("-" * len(fmt(header)))
    for line in lines:
        print(fmt(line))
    undecided = sum(r["undecided"] for r in out["rows"])
    if undecided:
        print(f"{undecided} runs reached --max-pairs {out['max_pairs']} undecided (counted at that length).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500, help="simulated SPRTs per true Elo (default 500)")
    parser.add_argument("--elo0", type=float, default=0.0)
    parser.add_argument("--elo1", type=float, default=20.0)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--beta", type=float, default=0.05)
    parser.add_argument("--draw", type=float, default=0.3, help="draw probability of one game (default 0.3)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--max-pairs", type=int, default=100_000, help="stop an undecided run after this many pairs")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = parser.parse_args(argv)
    try:
        spec = SprtSpec(args.elo0, args.elo1, args.alpha, args.beta)
    except UsageError as err:
        parser.error(str(err))
    out = measure(spec, args.runs, args.draw, args.seed, args.max_pairs)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_table(out)
    sys.stdout.flush()
    print(f"simulated in {sum(r['seconds'] for r in out['rows']):.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
