"""Web leaderboard: how fast `arena serve` answers the leaderboard page and its /api/ twin over a store of 1M matches.

The store is filled with the store's own writer (record_many, rated, as benchmarks/ratings_store.py builds its
store: 200 players, Elo-logistic outcomes), half of the matches tagged with a league. `arena serve` runs as its own
process on 127.0.0.1; requests go over HTTP on one keep-alive connection, one at a time, after a warm-up. Target:
the leaderboard page under 100 ms (p95) at 1,000,000 matches, rendered anew for every request (`--no-cache`); the
same pages as served by default (kept until the store changes) are measured too. `--league` also times, once, the
leaderboard of a league (rankings.leaderboard(league=...)), rendered anew.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratings_store import ENV, outcomes, results, timed_ms  # noqa: E402  (the same synthetic games and timer)

from arena.services.recording import open_store  # noqa: E402
from arena.store import leagues as league_state  # noqa: E402

LEAGUE = "bench-league"
TARGET_MS = 100.0
TIMED = {  # name: (path, timed against the target)
    "leaderboard page, one game": (f"/leaderboard?env={quote(ENV)}", True),
    "leaderboard /api twin": (f"/api/leaderboard?env={quote(ENV)}", True),
    "leaderboard page, every game": ("/leaderboard", True),
    "leaderboard page, top 20": (f"/leaderboard?env={quote(ENV)}&top=20", True),
    "games page (newest 50)": (f"/games?env={quote(ENV)}", False),
    "games page of a player": ("/games?player=p000", False),
    "payoff heatmap page": (f"/payoff?env={quote(ENV)}", False),
}


def build(path: Path, n: int, batch: int, seed: int) -> float:
    """n rated matches through record_many, every other one in league LEAGUE; returns seconds."""
    games = outcomes(n, seed)
    start = time.perf_counter()
    with open_store(path) as store:
        league_state.start(store, SimpleNamespace(name=LEAGUE, env=ENV, path="bench.toml", text=""), [],
                           resume=False)
        for i in range(0, n, batch):
            chunk = tuple(g[i:i + batch] for g in games)
            store.record_many([(r, {"event": LEAGUE if (i + k) % 2 else None})
                               for k, r in enumerate(results(chunk, start=i))])
            done = min(i + batch, n)
            if done % 100_000 < batch or done == n:
                print(f"  stored {done:,} matches, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(db: Path, *options: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from arena.cli import main; main()", "serve", "--db", str(db),
                             "--port", str(port), *options], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"arena serve did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def measure(port: int, repeats: int, league: bool = False) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    out = {}

    def get(path: str) -> int:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path}: {response.status} {body[:200]!r}")
        return len(body)

    for name, (path, _) in TIMED.items():
        size = get(path)
        out[name] = {"path": path, "bytes": size, **timed_ms(lambda p=path: get(p), repeats)}
    if league:
        path = f"/leaderboard?league={LEAGUE}"
        out["leaderboard page, one league"] = {"path": path, **timed_ms(lambda: get(path), 1, warm_up=False)}
    conn.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--matches", type=int, default=1_000_000, help="matches in the store (1,000,000)")
    parser.add_argument("--batch", type=int, default=5_000, help="record_many() batch (5,000)")
    parser.add_argument("--repeats", type=int, default=50, help="timed requests per page (50)")
    parser.add_argument("--store", type=Path, help="keep the store here and reuse it when it exists")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--league", action="store_true", help="also time a league's leaderboard once")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = parser.parse_args(argv)
    if min(args.matches, args.batch, args.repeats) < 1:
        parser.error("counts must be at least 1")
    tmp = Path(tempfile.mkdtemp(prefix="arena-web-bench-"))
    db = args.store or tmp / "big.db"
    out: dict[str, Any] = {"matches": args.matches, "players": 200, "repeats": args.repeats}
    try:
        if not db.exists():
            print(f"build: {args.matches:,} matches ...", file=sys.stderr, flush=True)
            out["build_s"] = build(db, args.matches, args.batch, args.seed)
        with open_store(db, readonly=True) as store:
            out["matches"] = store.db.execute("SELECT count(*) FROM matches").fetchone()[0]
        out["store_mib"] = sum(f.stat().st_size for f in db.parent.glob(db.name + "*")) / 2**20
        for mode, options in (("uncached", ("--no-cache",)), ("cached", ())):
            print(f"requests, {mode} ...", file=sys.stderr, flush=True)
            proc, port = serve(db, *options)
            try:
                out[mode] = measure(port, args.repeats, league=args.league and mode == "uncached")
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    finally:
        for f in tmp.glob("*"):
            f.unlink()
        os.rmdir(tmp)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['matches']:,} matches, 200 players, store {out['store_mib']:,.0f} MiB; "
          f"{args.repeats} requests each over HTTP keep-alive")
    print(f"{'request':<34} {'mode':<9} {'median':>9} {'p95':>9} {'bytes':>10}  target")
    for mode in ("uncached", "cached"):
        for name, r in out[mode].items():
            target = TIMED.get(name, ("", False))[1]
            verdict = ("MEETS" if r["p95_ms"] < TARGET_MS else "BELOW") if target else "info"
            print(f"{name:<34} {mode:<9} {r['median_ms']:>7.1f}ms {r['p95_ms']:>7.1f}ms {r.get('bytes', 0):>10,}  "
                  f"{'p95 < %d ms: ' % TARGET_MS if target else ''}{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
