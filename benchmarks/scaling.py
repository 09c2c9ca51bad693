"""How Arena scales past one process, measured on this machine in one run (docs/scaling.md reads the figures):

- training: PPO env steps/s on Connect Four against random with 0, 1 and 2 remote EnvRunners (0: sampling in the
  driver), rounds interleaved so that load drifting over the run hits every setting alike; the median over
  --reps measured iterations after one warm-up iteration per build;
- match play: games/s of `random` against `connect_four_heuristic` on Ray actors, on a one-node and on a two-node
  Ray cluster started on this machine (arena.testing.cluster), 1 CPU per node, through the head-to-head service
  with a store, as `arena match --ray-address` plays them; and the same on worker processes (no Ray) for scale;
- the store: rated matches/s that one SQLite writer takes through the Recorder that every command uses.

On one machine, two nodes share its cores: the figure shows what Ray's scheduling and transfer cost, not the speed-up
of real nodes. Run: python benchmarks/scaling.py [--json] [--reps 3] [--games 400]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
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


def match_games(games: int, db: Path) -> dict[str, Any]:
    """games/s of one match on worker processes, then on Ray clusters of one and two nodes of this machine."""
    from arena.registry import Registry
    from arena.services.headtohead import HeadToHead, head_to_head
    from arena.services.recording import open_store
    from arena.testing.cluster import LocalCluster

    registry = Registry()
    out: dict[str, Any] = {}

    def play(label: str, **where: Any) -> None:
        with open_store(db / f"{label}.db") as store:
            start = time.perf_counter()
            report = head_to_head(registry, HeadToHead(ENV, ("random", "connect_four_heuristic"), games=games,
                                                       seed=1, **where), store=store)
            elapsed = time.perf_counter() - start
        out[label] = {"games": report["games_played"], "seconds": elapsed, "games_per_s": games / elapsed,
                      "nodes": report.get("nodes")}
        print(f"  {label}: {games / elapsed:,.0f} games/s", file=sys.stderr)

    play("processes_2", workers=2)
    for nodes in (1, 2):
        with LocalCluster(nodes=nodes, cpus_per_node=1) as cluster:
            play(f"ray_{nodes}_nodes", workers=nodes, ray_address=cluster.address)
            import ray

            ray.shutdown()
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
    args = parser.parse_args()
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
