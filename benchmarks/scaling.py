"""How Arena scales past one process, measured on this machine in one run (docs/scaling.md reads the figures):

- training: PPO env steps/s on Connect Four against random with 0, 1 and 2 remote EnvRunners (0: sampling in the
  driver), rounds interleaved so that load drifting over the run hits every setting alike; the median over
  --reps measured iterations after one warm-up iteration per build;
- match play: games/s of `random` against `connect_four_heuristic` (--games games, stored) on Ray actors of a
  one-node and of a two-node Ray cluster started on this machine (arena.testing.cluster), 1 CPU a node, through the
  head-to-head service as `arena match --ray-address` plays them; and on 2 worker processes (no Ray) for scale;
- the store: rated matches/s that one SQLite writer takes through the Recorder that every command uses.

On one machine, two nodes share its cores: the figure shows what Ray's scheduling and transfer cost, not the speed-up
of real nodes. Run: python benchmarks/scaling.py [--json] [--reps 3] [--games 400]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENV = "openspiel/connect_four"


def env_steps(runners: list[int], reps: int, iterations: int) -> dict[int, dict[str, Any]]:
    """PPO env steps/s with each number of EnvRunners: `reps` rounds, each building every setting in turn and timing
    `iterations` iterations after a warm-up one."""
    import ray

    from arena.learners import create_learner
    from arena.registry import Registry
    from arena.plugins.ray_session import connect

    connect(num_cpus=os.cpu_count() or 2)
    registry = Registry()
    rates: dict[int, list[float]] = {k: [] for k in runners}
    try:
        for rep in range(reps):
            for k in runners:
                learner = create_learner(registry, "ppo", env=ENV, table={"random": 1.0}, hyperparameters={},
                                         hidden=(64, 64), seed=rep,
                                         resources={"num_env_runners": k, "num_envs_per_env_runner": 16})
                try:
                    learner.train()  # warm-up: actors, first batch, compilation
                    start, steps = time.perf_counter(), learner.env_steps
                    for _ in range(iterations):
                        learner.train()
                    rates[k].append((learner.env_steps - steps) / (time.perf_counter() - start))
                finally:
                    learner.stop()
                print(f"  {k} EnvRunners, round {rep + 1}: {rates[k][-1]:,.0f} env steps/s", file=sys.stderr)
    finally:
        ray.shutdown()
    base = statistics.median(rates[runners[0]])
    return {k: {"env_steps_per_s": statistics.median(v), "runs": v, "vs_0": statistics.median(v) / base}
            for k, v in rates.items()}


def timed_match(games: int, db: Path, workers: int, address: str | None) -> dict[str, Any]:
    """games/s of one stored match, timed after joining the cluster (the driver's start is not the play's cost)."""
    from arena.registry import Registry
    from arena.services.headtohead import HeadToHead, head_to_head
    from arena.services.recording import open_store

    if address is not None:
        from arena.plugins.ray_session import connect

        connect(address)
    with open_store(db) as store:
        start = time.perf_counter()
        report = head_to_head(Registry(), HeadToHead(ENV, ("random", "connect_four_heuristic"), games=games, seed=1,
                                                     workers=workers, ray_address=address), store=store)
        elapsed = time.perf_counter() - start
    return {"games": report["games_played"], "seconds": elapsed, "games_per_s": report["games_played"] / elapsed,
            "nodes": report.get("nodes")}


def match_games(games: int, db: Path) -> dict[str, Any]:
    """games/s of one match on 2 worker processes (no Ray), then on Ray actors of a cluster of this machine with one
    and with two nodes of 1 CPU each (one node: the second joins with no CPU, so no actor can go there). Each Ray
    run is a child process that joins the cluster, as `arena match --ray-address` does."""
    from arena.testing.cluster import two_node_cluster

    out = {"processes_2": timed_match(games, db / "processes.db", 2, None)}
    print(f"  2 worker processes: {out['processes_2']['games_per_s']:,.0f} games/s", file=sys.stderr)
    for nodes in (1, 2):
        with two_node_cluster(num_cpus=1, second_num_cpus=nodes - 1) as cluster:
            done = subprocess.run([sys.executable, __file__, "--match-on", cluster.address, "--games", str(games),
                                   "--db", str(db / f"ray{nodes}.db")], env={**os.environ, **cluster.env},
                                  capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise SystemExit(f"the match on {nodes} node(s) failed: {done.stderr[-2000:]}")
            out[f"ray_{nodes}_node{'s' if nodes > 1 else ''}"] = row = json.loads(done.stdout)
        print(f"  Ray, {nodes} node(s): {row['games_per_s']:,.0f} games/s on {row['nodes']}", file=sys.stderr)
    return out


def store_writes(matches: int, db: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).parent))
    from ratings_store import ingest, outcomes

    return ingest(db / "ingest.db", outcomes(matches, seed=0), batch=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=3, help="Timed training iterations per build.")
    parser.add_argument("--games", type=int, default=400)
    parser.add_argument("--matches", type=int, default=20_000, help="Matches written to the store.")
    parser.add_argument("--skip", default="", help="Comma-separated parts to skip: training, matches, store.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--match-on", help=argparse.SUPPRESS)  # the child process of match_games
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.match_on:
        from arena import logs

        logs.quiet(False)
        print(json.dumps(timed_match(args.games, Path(args.db), 2, args.match_on)))
        return
    skip = set(filter(None, args.skip.split(",")))
    from arena import logs

    logs.quiet(False)
    doc: dict[str, Any] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="arena-scaling-") as tmp:
        if "training" not in skip:
            doc["training"] = env_steps([0, 1, 2], args.reps, args.iterations)
        if "matches" not in skip:
            doc["matches"] = match_games(args.games, Path(tmp))
        if "store" not in skip:
            doc["store"] = store_writes(args.matches, Path(tmp))
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return
    for k, row in doc.get("training", {}).items():
        print(f"training, {k} EnvRunners: {row['env_steps_per_s']:,.0f} env steps/s ({row['vs_0']:.2f}x of 0)")
    for label, row in doc.get("matches", {}).items():
        print(f"match play, {label}: {row['games_per_s']:,.0f} games/s" + (f" on {row['nodes']}" if row["nodes"] else ""))
    if "store" in doc:
        print(f"store: {doc['store']['matches_per_s']:,.0f} rated matches/s through one writer")


if __name__ == "__main__":
    main()
