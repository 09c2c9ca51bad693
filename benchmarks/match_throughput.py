"""Random-vs-random Connect Four games per second: Arena's match runner versus the raw library loop, per backend."""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

from arena.match import game_seed, play_match
from arena.registry import Registry

MATCH_SEED = 12345
TARGET = 0.8  # the project's goal: Arena runner >= 0.8x the raw loop's games/s
GAME_IDS = {"openspiel": "openspiel/connect_four", "pettingzoo": "pettingzoo/connect_four_v3"}
DEFAULT_GAMES = {"openspiel": 2000, "pettingzoo": 200}  # per round; about 0.1-0.4 s of raw play each

# A runner plays one game per seed and returns the total number of moves played.
Runner = Callable[[Sequence[int]], int]


def raw_openspiel() -> Runner:
    """The plain pyspiel loop; like Arena's, it seeds a fresh numpy Generator per game."""
    import pyspiel

    game = pyspiel.load_game("connect_four")

    def run(seeds: Sequence[int]) -> int:
        moves = 0
        for seed in seeds:
            rng = np.random.default_rng(seed)
            state = game.new_initial_state()
            while not state.is_terminal():
                legal = state.legal_actions()
                state.apply_action(legal[rng.integers(len(legal))])
                moves += 1
        return moves

    return run


def raw_pettingzoo() -> Runner:
    """The plain AEC loop from PettingZoo's docs, with a fresh numpy Generator per game."""
    import pettingzoo

    env = pettingzoo.make("aec", "classic/connect_four-v3")  # same wrappers as connect_four_v3.env(), not deprecated

    def run(seeds: Sequence[int]) -> int:
        moves = 0
        for seed in seeds:
            rng = np.random.default_rng(seed)
            env.reset(seed=seed)
            for _agent in env.agent_iter():
                obs, _rew, term, trunc, _info = env.last()
                if term or trunc:
                    action = None
                else:
                    legal = np.flatnonzero(obs["action_mask"])
                    action = int(legal[rng.integers(len(legal))])
                    moves += 1
                env.step(action)
        return moves

    return run


def arena_runner(registry: Registry, backend: str) -> Runner:
    game = registry.make_game(GAME_IDS[backend])
    policies = [registry.make_policy("random"), registry.make_policy("random")]

    def run(seeds: Sequence[int]) -> int:
        # `arena match`'s runner; game i of a match with seed MATCH_SEED is seeded game_seed(MATCH_SEED, i),
        # so it plays the very seeds the raw loops get.
        assert list(seeds) == [game_seed(MATCH_SEED, i) for i in range(len(seeds))]
        return sum(result.length for _, result in play_match(game, policies, len(seeds), MATCH_SEED))

    return run


RAW = {"openspiel": raw_openspiel, "pettingzoo": raw_pettingzoo}


def timed(run: Runner, seeds: Sequence[int]) -> tuple[float, float]:
    """(games/s, moves/s) of one batch."""
    start = time.perf_counter()
    moves = run(seeds)
    elapsed = time.perf_counter() - start
    return len(seeds) / elapsed, moves / elapsed


def bench(registry: Registry, backend: str, games: int, rounds: int) -> dict[str, object]:
    """Interleave rounds of raw and Arena play on the same seeds, so machine noise hits both alike."""
    runners = {"raw": RAW[backend](), "arena": arena_runner(registry, backend)}
    seeds = [game_seed(MATCH_SEED, i) for i in range(games)]
    for run in runners.values():  # warm up imports, caches and allocators, untimed
        run(seeds[: max(1, games // 20)])
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for r in range(rounds):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))  # alternate who goes first
        for name in order:
            samples[name].append(timed(runners[name], seeds))
    out: dict[str, object] = {"backend": backend, "game": GAME_IDS[backend], "games_per_round": games,
                              "rounds": rounds}
    for name, rows in samples.items():
        out[f"{name}_games_per_s"] = statistics.median(g for g, _ in rows)
        out[f"{name}_moves_per_s"] = statistics.median(m for _, m in rows)
        out[f"{name}_games_per_s_all"] = [round(g, 1) for g, _ in rows]
    ratio = statistics.median(g for g, _ in samples["arena"]) / statistics.median(g for g, _ in samples["raw"])
    out["ratio"] = ratio  # arena/raw, from the medians
    # The median of per-round ratios: paired, so less sensitive to load drifting between rounds.
    out["ratio_paired_median"] = statistics.median(a[0] / w[0] for a, w in zip(samples["arena"], samples["raw"]))
    out["meets_target"] = ratio >= TARGET
    return out


def print_table(results: Sequence[dict[str, object]]) -> None:
    header = f"{'backend':<11} {'games':>6} {'raw games/s':>12} {'arena games/s':>14} " \
             f"{'raw moves/s':>12} {'arena moves/s':>14} {'ratio':>6} {'paired':>7}  target {TARGET}x"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['backend']:<11} {r['games_per_round']:>6} {r['raw_games_per_s']:>12.0f} "
              f"{r['arena_games_per_s']:>14.0f} {r['raw_moves_per_s']:>12.0f} {r['arena_moves_per_s']:>14.0f} "
              f"{r['ratio']:>6.2f} {r['ratio_paired_median']:>7.2f}  {'MEETS' if r['meets_target'] else 'BELOW'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["pettingzoo", "openspiel", "both"], default="both")
    parser.add_argument("--games", type=int, default=None,
                        help="games per round for each loop (default: 2000 openspiel, 200 pettingzoo)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved raw/arena rounds (default: 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = parser.parse_args(argv)
    if args.rounds < 1 or (args.games is not None and args.games < 1):
        parser.error("--games and --rounds must be at least 1")
    backends = ["openspiel", "pettingzoo"] if args.backend == "both" else [args.backend]
    registry = Registry()
    results = []
    for backend in backends:
        games = args.games or DEFAULT_GAMES[backend]
        if not args.json:
            print(f"{backend}: {args.rounds} rounds x {games} games, raw and arena interleaved ...", flush=True)
        results.append(bench(registry, backend, games, args.rounds))
    if args.json:
        print(json.dumps({"target_ratio": TARGET, "results": results}, indent=2))
    else:
        print()
        print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
