"""Connect Four games per second with 1 and 2 match workers, and a snapshot's batched versus one-by-one inference.

Workers: `arena.parallel.run_games` plays the same games (same seeds) with --workers 1 (this process) and 2
(worker processes, start-up included), alternating trials so both see the same machine load; the ratio of the
median games/s is the figure (target: at least 1.7 on a 2-core machine).

Batching: an untrained snapshot (128x128 MLP, the default learner size) against random, played one game at a
time (play_game: a forward pass per move) and in lockstep chunks (play_lockstep: one forward pass per turn for
all boards of the chunk), in this process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from arena.match import game_seed, play_game, play_lockstep, seat_order
from arena.parallel import CHUNK, GameJob, run_games
from arena.registry import Registry

ENV = "openspiel/connect_four"
TARGET = 1.7


def jobs(players: list[str], games: int, seed: int) -> list[GameJob]:
    return [GameJob(i, ENV, tuple(players[j] for j in seat_order(2, i)), game_seed(seed, i)) for i in range(games)]


def workers_section(args: argparse.Namespace) -> dict[str, object]:
    todo = jobs(args.players.split(","), args.games, seed=1)
    rates: dict[int, list[float]] = {1: [], 2: []}
    for trial in range(args.trials):
        for workers in (1, 2):
            started = time.perf_counter()
            n = sum(1 for _ in run_games(todo, workers=workers))
            rates[workers].append(n / (time.perf_counter() - started))
            print(f"  trial {trial + 1}: {workers} worker(s) {rates[workers][-1]:6.1f} games/s", flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    return {"players": args.players, "games": args.games, "games_per_s_1": one, "games_per_s_2": two,
            "ratio": two / one, "target": TARGET, "meets": two / one >= TARGET}


def batching_section(args: argparse.Namespace) -> dict[str, object]:
    from arena.plugins import snapshot

    reg = Registry()
    info = reg.make_game(ENV).info
    meta = {"env": info.env_id, "obs_dim": snapshot.feature_dim(info), "num_actions": info.num_actions,
            "features": snapshot.FEATURES,
            "hidden": [128, 128], "activation": "tanh"}
    with tempfile.TemporaryDirectory() as tmp:
        snapshot.save(Path(tmp) / "bench", snapshot.build_net(meta).state_dict(), meta)
        os.environ["ARENA_SNAPSHOTS"] = tmp
        policies = {"snapshot/bench:greedy=false": reg.make_policy("snapshot/bench:greedy=false"),
                    "random": reg.make_policy("random")}
        todo = jobs(list(policies), args.batch_games, seed=2)
        games = [reg.make_game(ENV) for _ in range(CHUNK)]
        rates: dict[str, list[float]] = {"one by one": [], "lockstep": []}
        for _ in range(args.trials):
            started = time.perf_counter()
            for j in todo:
                play_game(games[0], [policies[p] for p in j.players], j.seed)
            rates["one by one"].append(len(todo) / (time.perf_counter() - started))
            started = time.perf_counter()
            for k in range(0, len(todo), CHUNK):
                chunk = todo[k:k + CHUNK]
                tables = [(games[i], [policies[p] for p in j.players], j.seed) for i, j in enumerate(chunk)]
                for _ in play_lockstep(tables):
                    pass
            rates["lockstep"].append(len(todo) / (time.perf_counter() - started))
    single, batched = statistics.median(rates["one by one"]), statistics.median(rates["lockstep"])
    print(f"  snapshot vs random: one by one {single:6.1f} games/s, lockstep chunks of {CHUNK} {batched:6.1f} "
          f"games/s", flush=True)
    return {"games": args.batch_games, "games_per_s_one_by_one": single, "games_per_s_lockstep": batched,
            "ratio": batched / single}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", default="mcts:simulations=50,connect_four_heuristic")
    parser.add_argument("--games", type=int, default=128, help="games per trial (128)")
    parser.add_argument("--batch-games", type=int, default=256, help="games per batching trial (256)")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(f"Workers: {args.players}, {args.games} games per trial", flush=True)
    doc = {"workers": workers_section(args)}
    print("Batched snapshot inference", flush=True)
    doc["batching"] = batching_section(args)
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    w, b = doc["workers"], doc["batching"]
    print(f"\n1 worker {w['games_per_s_1']:.1f} games/s, 2 workers {w['games_per_s_2']:.1f} games/s: "
          f"{w['ratio']:.2f}x (target >= {TARGET}: {'MEETS' if w['meets'] else 'BELOW'})")
    print(f"snapshot games: lockstep {b['ratio']:.2f}x the games/s of one game at a time")


if __name__ == "__main__":
    main()
