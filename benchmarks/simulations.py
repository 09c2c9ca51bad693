"""Simulation steps per second: Arena's match runner against the raw PettingZoo parallel loop, side by side.

Both play mpe/simple_tag (4 agents, 25 steps) with uniformly random actions from numpy generators; the raw loop calls
mpe2's parallel_env directly, the runner goes through the adapter, the team seats and the action checks. Rounds
alternate between the two so that load on a shared machine hits both alike.

    python benchmarks/simulations.py [--episodes 200] [--rounds 5] [--env mpe/simple_tag]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from arena.match import play_game
from arena.registry import Registry


def raw_loop(name: str, episodes: int) -> float:
    import importlib

    env = importlib.import_module(f"mpe2.{name}").parallel_env()
    rng = np.random.default_rng(0)
    steps = 0
    start = time.perf_counter()
    for episode in range(episodes):
        env.reset(seed=episode)
        while env.agents:
            env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})
            steps += 1
    return steps / (time.perf_counter() - start)


def runner(registry: Registry, env_id: str, players: list[str], episodes: int) -> float:
    game = registry.make_game(env_id)
    policies = [registry.make_policy(p) for p in players]
    steps = 0
    start = time.perf_counter()
    for episode in range(episodes):
        steps += play_game(game, policies, episode).length // game.info.num_seats
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--env", default="mpe/simple_tag")
    args = parser.parse_args()
    registry = Registry()
    game = registry.make_game(args.env)
    name = game.info.env_id.split("/", 1)[1].split(":")[0]
    teams = len(game.info.teams) or game.info.num_seats
    raw, by_team, by_agent = [], [], []
    for _ in range(args.rounds):
        raw.append(raw_loop(name, args.episodes))
        by_team.append(runner(registry, args.env, ["random"] * teams, args.episodes))
        by_agent.append(runner(registry, args.env, ["random"] * game.info.num_seats, args.episodes))
    r, t, a = (statistics.median(x) for x in (raw, by_team, by_agent))
    print(f"{args.env}: {args.episodes} episodes x {args.rounds} rounds, median steps/s (one step = every agent acts)")
    print(f"  raw PettingZoo parallel loop  {r:9.0f}")
    print(f"  match runner, one per team    {t:9.0f}   {t / r:.2f} x raw")
    print(f"  match runner, one per agent   {a:9.0f}   {a / r:.2f} x raw")


if __name__ == "__main__":
    main()
