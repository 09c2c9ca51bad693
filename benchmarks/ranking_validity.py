"""Does a league's leaderboard agree with head-to-head evidence? Plays an opening match between every pair of the
league's top N and reports where the leaderboard contradicts it.

For each pair (A ranked above B) it plays `--games` games (default 200) from openings (`--openings`, default
random:plies=4: games 2k and 2k+1 share an opening with the seats swapped) on `--workers` workers (default 2),
without storing them. It prints every pair's score with its 95% Wilson interval and flags:

- a significant inversion: the lower-ranked B beats A, B's score interval entirely above 0.5;
- a real contradiction (the issue's target): A scores below 0.4 against B with the interval excluding 0.5.

It then orders the players by their mean score over these matches and prints Kendall's tau between that order
and the leaderboard's (1: the same order). Usage:

    python benchmarks/ranking_validity.py arena.db --league connect_four --top 8
    python benchmarks/ranking_validity.py arena.db --league connect_four --method bt --json
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

from scipy.stats import kendalltau

from arena.registry import Registry
from arena.services.headtohead import HeadToHead, head_to_head
from arena.services.recording import open_store
from arena.stats import wilson
from arena.store import rankings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--league", required=True)
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--method", default="trueskill", choices=sorted(rankings.METHODS))
    ap.add_argument("--games", type=int, default=200)
    ap.add_argument("--openings", default="random:plies=4")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    with open_store(args.db, readonly=True) as store:
        board = rankings.leaderboard(store, league=args.league, method=args.method, top=args.top)
    if not board:
        print(f"No rated players in league {args.league!r} of {args.db}.", file=sys.stderr)
        return 2
    env = board[0]["env"]
    players = [e["player"] for e in board if e["env"] == env]
    reg = Registry()
    started = time.monotonic()
    pairs = []
    for (i, a), (j, b) in itertools.combinations(enumerate(players), 2):
        doc = head_to_head(reg, HeadToHead(env, (a, b), games=args.games, seed=args.seed, workers=args.workers,
                                           openings=args.openings))
        s = doc["standings"][0]
        lo, hi = s["score_ci95"]
        pairs.append({"higher": a, "lower": b, "higher_rank": i + 1, "lower_rank": j + 1, "games": s["games"],
                      "higher_score": round(s["score"], 3), "ci95": [round(lo, 3), round(hi, 3)],
                      "inversion": hi < 0.5, "contradiction": s["score"] < 0.4 and hi < 0.5})
        if not args.json:
            flag = " CONTRADICTION" if pairs[-1]["contradiction"] else " inversion" if pairs[-1]["inversion"] else ""
            print(f"#{i + 1} {a} vs #{j + 1} {b}: {s['score']:.3f} [{lo:.3f}, {hi:.3f}] over {s['games']}{flag}",
                  flush=True)
    mean = {p: 0.0 for p in players}
    for row in pairs:
        mean[row["higher"]] += row["higher_score"] / (len(players) - 1)
        mean[row["lower"]] += (1 - row["higher_score"]) / (len(players) - 1)
    h2h_order = sorted(players, key=lambda p: -mean[p])
    tau = kendalltau(range(len(players)), [h2h_order.index(p) for p in players]).statistic if len(players) > 1 else 1.0
    doc = {"db": args.db, "league": args.league, "env": env, "method": args.method, "games_per_pair": args.games,
           "openings": args.openings, "leaderboard": players, "head_to_head_order": h2h_order,
           "mean_scores": {p: round(v, 3) for p, v in mean.items()}, "kendall_tau": round(float(tau), 3),
           "inversions": [p for p in pairs if p["inversion"]],
           "contradictions": [p for p in pairs if p["contradiction"]], "pairs": pairs,
           "minutes": round((time.monotonic() - started) / 60, 2)}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"\nLeaderboard ({args.method}): " + ", ".join(players))
    print("Head-to-head order (mean score): " + ", ".join(f"{p} {mean[p]:.3f}" for p in h2h_order))
    print(f"Kendall tau: {doc['kendall_tau']:.3f}; significant inversions: {len(doc['inversions'])}; "
          f"real contradictions (higher-ranked below 0.4, interval excluding 0.5): {len(doc['contradictions'])}; "
          f"{doc['minutes']:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
