"""Ratings store: ingest matches/s, leaderboard latency over a large store, and TrueSkill 1v1 updates/s vs trueskill."""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import trueskill

from arena.services.recording import Recorder, open_store
from arena.store import rankings as queries
from arena.ratings import Rater, RatingSettings
from arena.types import MatchResult

ENV = "bench/synthetic-v0"
PLAYERS = [f"p{i:03d}" for i in range(200)]
DRAW_RATE = 0.10
INGEST_TARGET = 5_000.0  # matches/s
LEADERBOARD_TARGET_MS = 50.0
Outcomes = tuple[np.ndarray, np.ndarray, np.ndarray]  # seat-0 index, seat-1 index, rank difference (-1, 0, 1)


def outcomes(n: int, seed: int) -> Outcomes:
    """n games between two distinct players; the first wins with the Elo logistic probability, ~10% drawn."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 200.0, len(PLAYERS))  # hidden Elo
    a = rng.integers(0, len(PLAYERS), n)
    b = rng.integers(0, len(PLAYERS) - 1, n)
    b += b >= a  # distinct from a, uniform over the others
    p_a = 1.0 / (1.0 + 10.0 ** ((strength[b] - strength[a]) / 400.0))
    diff = np.where(rng.random(n) < p_a, -1, 1)
    diff[rng.random(n) < DRAW_RATE] = 0
    return a, b, diff


def results(games: Outcomes, start: int = 0) -> Iterator[MatchResult]:
    """MatchResults for games; the seed (start + i) is unique, so so is every match id."""
    ranks = {-1: (0, 1), 0: (0, 0), 1: (1, 0)}
    returns = {-1: (1.0, -1.0), 0: (0.0, 0.0), 1: (-1.0, 1.0)}
    for i, (a, b, d) in enumerate(zip(*(g.tolist() for g in games))):
        yield MatchResult(env_id=ENV, seed=start + i, players=(PLAYERS[a], PLAYERS[b]), returns=returns[d],
                          ranks=ranks[d], length=1)


def ingest(path: Path, games: Outcomes, batch: int) -> dict[str, Any]:
    """matches/s writing games to a fresh store: through a Recorder as `arena match --db` does (batch 0),
    record() each (batch 1), or record_many() batches."""
    items = list(results(games))
    with open_store(path) as store:
        start = time.perf_counter()
        if batch == 0:
            with Recorder(store) as recorder:
                for r in items:
                    recorder.add(r)
        elif batch == 1:
            for r in items:
                store.record(r)
        else:
            for i in range(0, len(items), batch):
                store.record_many([(r, {}) for r in items[i:i + batch]])
        elapsed = time.perf_counter() - start
    rate = len(items) / elapsed
    return {"batch": batch, "matches": len(items), "seconds": elapsed, "matches_per_s": rate,
            "meets_target": rate >= INGEST_TARGET}


def build(path: Path, n: int, batch: int, seed: int) -> float:
    """Fill a store with n rated matches in record_many batches; progress every 100k to stderr; returns seconds."""
    games = outcomes(n, seed)
    start = time.perf_counter()
    with open_store(path) as store:
        for i in range(0, n, batch):
            store.record_many([(r, {}) for r in results(tuple(g[i:i + batch] for g in games), start=i)])
            done = min(i + batch, n)
            if done % 100_000 < batch or done == n:
                print(f"  stored {done:,} matches, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return time.perf_counter() - start


def timed_ms(fn: Callable[[], object], repeats: int, warm_up: bool = True) -> dict[str, float]:
    """Median and p95 milliseconds of fn over repeats calls, after one untimed warm-up call unless told not to."""
    if warm_up:
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {"median_ms": statistics.median(samples), "p95_ms": p95, "repeats": repeats}


def query_latency(path: Path, repeats: int, bt_repeats: int, bootstrap: int) -> dict[str, dict[str, float]]:
    """The leaderboard (timed), and for information the Bradley-Terry one (slow: no warm-up), h2h and payoff."""
    with open_store(path, readonly=True) as store:
        return {
            "leaderboard": timed_ms(lambda: queries.leaderboard(store, env=ENV, top=20), repeats),
            "leaderboard_bt": timed_ms(lambda: queries.leaderboard(store, env=ENV, method="bt", top=20,
                                                                   bootstrap=bootstrap), bt_repeats, warm_up=False),
            "head_to_head": timed_ms(lambda: queries.head_to_head(store, PLAYERS[0], PLAYERS[1], env=ENV), repeats),
            "payoff": timed_ms(lambda: queries.payoff(store, ENV), repeats),
        }


def rating_updates(games: Outcomes) -> dict[str, Any]:
    """updates/s of Rater.rate_1v1 and of trueskill's rate_1vs1 on the same games, and how far their results differ."""
    s = RatingSettings()
    a_idx, b_idx, diffs = (g.tolist() for g in games)
    rater = Rater(s)
    ours = {p: rater.initial() for p in PLAYERS}
    start = time.perf_counter()
    for a, b, d in zip(a_idx, b_idx, diffs):
        pa, pb = PLAYERS[a], PLAYERS[b]
        ours[pa], ours[pb] = rater.rate_1v1(ours[pa], ours[pb], d)
    arena_s = time.perf_counter() - start

    env = trueskill.TrueSkill(mu=s.mu, sigma=s.sigma, beta=s.beta, tau=s.tau, draw_probability=s.draw_probability,
                              backend=None)
    theirs = {p: env.create_rating() for p in PLAYERS}
    start = time.perf_counter()
    for a, b, d in zip(a_idx, b_idx, diffs):
        pa, pb = PLAYERS[a], PLAYERS[b]
        if d > 0:  # the second player won: the winner goes first
            theirs[pb], theirs[pa] = env.rate_1vs1(theirs[pb], theirs[pa])
        else:
            theirs[pa], theirs[pb] = env.rate_1vs1(theirs[pa], theirs[pb], drawn=d == 0)
    trueskill_s = time.perf_counter() - start

    n = len(diffs)
    return {"updates": n, "arena_updates_per_s": n / arena_s, "trueskill_updates_per_s": n / trueskill_s,
            "speedup": trueskill_s / arena_s,
            "max_abs_diff_mu": max(abs(ours[p][0] - theirs[p].mu) for p in PLAYERS),
            "max_abs_diff_sigma": max(abs(ours[p][1] - theirs[p].sigma) for p in PLAYERS)}


def print_table(out: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    for mode in out["ingest"]:
        name = {0: "ingest, arena match --db (Recorder)", 1: "ingest, record() per match"}.get(
            mode["batch"], f"ingest, record_many() x{mode['batch']:,}")
        rows.append((name, f"{mode['matches_per_s']:,.0f} matches/s", f">= {INGEST_TARGET:,.0f}",
                     "MEETS" if mode["meets_target"] else "BELOW"))
    q, m = out["queries"], out["matches"]
    lb = q["leaderboard"]
    rows.append((f"leaderboard trueskill top 20 @ {m:,}", f"{lb['median_ms']:.2f} ms (p95 {lb['p95_ms']:.2f})",
                 f"< {LEADERBOARD_TARGET_MS:.0f} ms", "MEETS" if lb["p95_ms"] < LEADERBOARD_TARGET_MS else "BELOW"))
    for key, name in [("leaderboard_bt", f"leaderboard bt top 20 (bootstrap {out['bt_bootstrap']})"),
                      ("head_to_head", "head_to_head one pair"), ("payoff", "payoff matrix")]:
        rows.append((f"{name} @ {m:,}", f"{q[key]['median_ms']:.2f} ms (p95 {q[key]['p95_ms']:.2f})", "-", "info"))
    r = out["rating"]
    rows.append(("Rater.rate_1v1", f"{r['arena_updates_per_s']:,.0f} updates/s", "-", "info"))
    rows.append(("trueskill rate_1vs1", f"{r['trueskill_updates_per_s']:,.0f} updates/s", "-", "info"))
    rows.append(("speed ratio arena/trueskill", f"{r['speedup']:.1f}x", "-", "info"))
    agree = max(r["max_abs_diff_mu"], r["max_abs_diff_sigma"])
    rows.append(("max |diff| final mu / sigma", f"{r['max_abs_diff_mu']:.1e} / {r['max_abs_diff_sigma']:.1e}",
                 "<= 1e-9", "MEETS" if agree <= 1e-9 else "BELOW"))
    widths = [max(len(row[i]) for row in rows + [("measure", "value", "target", "")]) for i in range(4)]
    header = f"{'measure':<{widths[0]}}  {'value':>{widths[1]}}  {'target':<{widths[2]}}  result"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    print("phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in out["phase_seconds"].items())
          + f"; query store {out['store_mib']:,.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingest", type=int, default=100_000, help="matches per ingest mode (default: 100,000)")
    parser.add_argument("--batch", type=int, default=1_000, help="matches per record_many() when ingesting (1,000)")
    parser.add_argument("--matches", type=int, default=1_000_000, help="matches in the query store (1,000,000)")
    parser.add_argument("--build-batch", type=int, default=5_000, help="record_many() batch for it (5,000)")
    parser.add_argument("--repeats", type=int, default=50, help="timed leaderboard/head-to-head calls (50)")
    parser.add_argument("--bt-repeats", type=int, default=1, help="timed bt leaderboard calls, no warm-up (1)")
    parser.add_argument("--bt-bootstrap", type=int, default=200, help="bootstrap refits of the bt leaderboard (200)")
    parser.add_argument("--updates", type=int, default=100_000, help="1v1 rating updates (default: 100,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = parser.parse_args(argv)
    if min(args.ingest, args.batch, args.matches, args.build_batch, args.repeats, args.bt_repeats,
           args.updates) < 1 or args.bt_bootstrap < 0:
        parser.error("counts must be at least 1 (--bt-bootstrap at least 0)")
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)
    out: dict[str, Any] = {"env": ENV, "players": len(PLAYERS), "matches": args.matches,
                           "bt_bootstrap": args.bt_bootstrap, "phase_seconds": {}}
    tmp = Path(tempfile.mkdtemp(prefix="arena-ratings-bench-"))
    try:
        started = time.perf_counter()
        games = outcomes(args.ingest, args.seed)
        out["ingest"] = []
        for batch in (0, 1, args.batch):
            log(f"ingest: {args.ingest:,} matches, batch {batch:,} ...")
            out["ingest"].append(ingest(tmp / f"ingest-{batch}.db", games, batch))
        out["phase_seconds"]["ingest"] = time.perf_counter() - started
        log(f"build: {args.matches:,} matches in batches of {args.build_batch:,} ...")
        out["phase_seconds"]["build"] = build(tmp / "big.db", args.matches, args.build_batch, args.seed + 1)
        out["store_mib"] = sum(f.stat().st_size for f in tmp.glob("big.db*")) / 2**20
        log("queries ...")
        started = time.perf_counter()
        out["queries"] = query_latency(tmp / "big.db", args.repeats, args.bt_repeats, args.bt_bootstrap)
        out["phase_seconds"]["queries"] = time.perf_counter() - started
        log(f"rating updates: {args.updates:,} ...")
        started = time.perf_counter()
        out["rating"] = rating_updates(outcomes(args.updates, args.seed + 2))
        out["phase_seconds"]["rating"] = time.perf_counter() - started
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_table(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
