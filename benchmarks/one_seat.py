"""One-seat Gymnasium envs with `arena train`'s own path: time to a confirmed mean return, and where it ends.

Each run is `arena train ENV --stop-return R --stop-minutes M --seed S` through the training service: PPO with
Arena's one-seat defaults (RLlib's gamma of 0.99, no value-loss clipping; plugins/rllib_algorithms.py), sampling in
this process on RLlib's SingleAgentEnvRunner. The stop is confirmed by --eval-games match-runner games of the frozen
snapshot, and the final snapshot plays another --eval-games games (seed + 1): its mean return and 95% interval are
reported. The clock includes those evaluations.

Taxi-v3 is the target of issue 17 (mean return >= 7 within 5 minutes on 2 cores), on two seeds; CartPole-v1 and
FrozenLake-v1 were never tuned for and check that the defaults are no Taxi-only fit.

    python benchmarks/one_seat.py                       # all runs (about 15 minutes)
    python benchmarks/one_seat.py --only gymnasium/Taxi-v3 --seeds 0
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

RUNS = [("gymnasium/Taxi-v3", 7.0, (0, 1)),  # (env, the return to reach, seeds)
        ("gymnasium/CartPole-v1", 475.0, (0,)),  # gymnasium's own "solved" threshold
        ("gymnasium/FrozenLake-v1", 0.7, (0,))]  # slippery: the best policy reaches about 0.74-0.82


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--eval-games", type=int, default=200)
    ap.add_argument("--only", default=None, help="one env id")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds instead of each env's own")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()

    from arena.logs import quiet_ray
    from arena.registry import Registry
    from arena.services.progress import SILENT
    from arena.services.training import TrainRequest, train
    from arena.services.recording import open_store

    quiet_ray()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ARENA_SNAPSHOTS"] = str(Path(tmp) / "snapshots")  # where evaluation games find them
        reg, store = Registry(), open_store(Path(tmp) / "bench.db")
        for env, target, seeds in RUNS:
            if args.only and env != args.only:
                continue
            for seed in (int(s) for s in args.seeds.split(",")) if args.seeds else seeds:
                started = time.monotonic()
                doc = train(reg, store, TrainRequest(env=env, stop_return=target, stop_minutes=args.minutes,
                                                     eval_games=args.eval_games, seed=seed, name=f"b{seed}",
                                                     snapshots=reg.settings.snapshots), progress=SILENT)
                lo, hi = doc["return_ci95"]
                row = {"env": env, "seed": seed, "target": target, "stop": doc["stop_reason"],
                       "reached": doc["stop_reason"].endswith("reached"), "minutes": doc["minutes"],
                       "wall_minutes": round((time.monotonic() - started) / 60, 2), "env_steps": doc["env_steps"],
                       "mean_return": round(doc["scores"]["return"], 3), "ci95": [round(lo, 3), round(hi, 3)]}
                results.append(row)
                print(f"{env} seed {seed}: {row['stop']} after {row['minutes']:.2f} min, {row['env_steps']:,} "
                      f"steps; final snapshot {row['mean_return']:.2f} [{lo:.2f}, {hi:.2f}] over "
                      f"{args.eval_games} games (target {target:g})", flush=True)
    print("\n| Env | Seed | Target | Stopped | Minutes | Env steps | Final mean return [95% CI] |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['env']} | {r['seed']} | {r['target']:g} | {r['stop']} | {r['minutes']:.2f} | {r['env_steps']:,} "
              f"| {r['mean_return']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}] |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
