"""Connect Four env steps/s: RLlib's MultiAgentEnvRunner (Arena's training path) against its SingleAgentEnvRunner.

In one run, side by side, on the same machine and interleaved so that load drifting over the run hits all alike:

- raw: the plain pyspiel loop with random moves (benchmarks/match_throughput.py's), in moves/s, for scale; an env
  step of the learner is its move plus the opponent's, about two moves;
- env loop: ArenaMultiAgentEnv and ArenaSingleAgentEnv stepped directly with random legal learner moves, no RLlib:
  the ceiling for either EnvRunner;
- sample: `local_env_runner.sample(num_timesteps=--steps)` of PPO with Arena's defaults (0 remote EnvRunners,
  --envs envs, MaskedPPOTorchRLModule) built by `rllib_algorithms._config` (multi) and by
  `rllib_single_env.single_agent_config` (single: the same config on ArenaSingleAgentEnv, gymnasium's
  SyncVectorEnv);
- train: one `algo.train()` iteration (sampling a 2,000-step batch, then PPO's update), env steps sampled per
  second of the iteration.

Each figure is the median over --reps repetitions, both in wall-clock steps/s and in steps per CPU second of this
process (less sensitive to other processes on a shared machine). An env step is one learner decision, in RLlib's
count (`num_env_steps_sampled`) as in the env loops. Self-play is not measured: the single-agent env refuses it.

Torch runs this process's module and learner (0 remote EnvRunners) with --torch-threads intra-op threads
(default 1). Torch's own default, one per core, is much slower on a shared 2-core machine: its threads wait for
each other on tiny matrices while other processes hold the cores (on one loaded run a PPO iteration took 6-14 s
with 2 threads and 1.4-1.9 s with 1).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ENV = "openspiel/connect_four"
OPPONENTS = ("random", "connect_four_heuristic")
KINDS = ("multi", "single")


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """(wall s, CPU s of this process, steps) of fn(), which returns the steps it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    steps = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, steps


def random_legal(mask: np.ndarray, rng: np.random.Generator) -> int:
    legal = np.flatnonzero(mask)
    return int(legal[rng.integers(len(legal))])


def env_loop(kind: str, opponent: str, steps: int, seed: int) -> int:
    """Step one Arena env with random legal learner moves until `steps` env steps; returns them."""
    from arena.plugins.rllib_env import ArenaMultiAgentEnv
    from arena.plugins.rllib_single_env import ArenaSingleAgentEnv

    config = {"env": ENV, "table": {opponent: 1.0}, "seed": seed}
    rng = np.random.default_rng(seed)
    if kind == "single":
        env = ArenaSingleAgentEnv(config)
        obs, _ = env.reset()
        for _ in range(steps):
            obs, _, over, _, _ = env.step(random_legal(obs["action_mask"], rng))
            if over:
                obs, _ = env.reset()
    else:
        env = ArenaMultiAgentEnv(config)
        obs, _ = env.reset()
        for _ in range(steps):
            obs, _, done, _, _ = env.step({a: random_legal(o["action_mask"], rng) for a, o in obs.items()})
            if done["__all__"]:
                obs, _ = env.reset()
    return steps


def sub_envs(runner: Any) -> list[Any]:
    """The Arena envs of a local EnvRunner: RLlib's multi-agent vector env lists them, gymnasium's SyncVectorEnv
    (under RLlib's DictInfoToList wrapper) does too, one level down."""
    vector = runner.env
    envs = getattr(vector, "envs", None) or vector.unwrapped.envs
    return [e.unwrapped for e in envs]


class Learner:
    """One PPO algorithm with Arena's defaults, on the multi-agent or the single-agent path."""

    def __init__(self, kind: str, envs: int, seed: int):
        from arena.plugins.rllib_algorithms import Resources, TrainSpec, _config
        from arena.plugins.rllib_single_env import single_agent_config

        spec = TrainSpec(env=ENV, table={OPPONENTS[0]: 1.0}, seed=seed,
                         resources=Resources(num_env_runners=0, num_envs_per_env_runner=envs))
        self.config = (_config if kind == "multi" else single_agent_config)(spec)
        self.algo = self.config.build_algo()
        self.runner = self.algo.env_runner_group.local_env_runner
        self.opponent = OPPONENTS[0]

    def describe(self) -> str:
        vector = self.runner.env
        return (f"{type(self.runner).__name__}, {type(vector).__name__}({type(vector.unwrapped).__name__}) of "
                f"{self.runner.num_envs} envs, gym_env_vectorize_mode={self.config.gym_env_vectorize_mode!r}")

    def meet(self, opponent: str, warmup_steps: int) -> None:
        """Switch every env to `opponent` and restart their episodes (a new table applies from the next one)."""
        for env in sub_envs(self.runner):
            env.set_table({opponent: 1.0})
        self.opponent = opponent
        self.runner.sample(num_timesteps=warmup_steps, force_reset=True)
        self.outcomes()

    def outcomes(self) -> list[float]:
        scores = []
        for env in sub_envs(self.runner):
            for opponent, score in env.take_outcomes():
                assert opponent == self.opponent, f"an episode against {opponent}, expected {self.opponent}"
                scores.append(score)
        return scores

    def sample(self, steps: int) -> int:
        return sum(len(episode) for episode in self.runner.sample(num_timesteps=steps))

    def train(self) -> int:
        self.runner.get_metrics()  # flush what earlier sample() calls counted: the result then counts this iteration
        result = self.algo.train()
        return int(result["env_runners"]["num_env_steps_sampled"])

    def illegal_actions(self) -> int:
        return sum(env.illegal_actions for env in sub_envs(self.runner))


def median_rates(runs: Sequence[tuple[float, float, int]]) -> dict[str, Any]:
    return {"wall": statistics.median(s / w for w, _, s in runs), "cpu": statistics.median(s / c for _, c, s in runs),
            "runs": [[round(w, 3), round(c, 3), s] for w, c, s in runs]}


def bench(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from match_throughput import raw_openspiel  # the same raw loop as benchmarks/match_throughput.py

    import ray

    out: dict[str, Any] = {"env": ENV, "envs_per_runner": args.envs, "reps": args.reps, "sample_steps": args.steps,
                           "env_loop_steps": args.env_loop_steps}
    raw = raw_openspiel()
    raw(range(50))
    raw_runs = []
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        import torch

        torch.set_num_threads(args.torch_threads)
        out["torch_threads"] = torch.get_num_threads()
        started = time.perf_counter()
        learners = {kind: Learner(kind, args.envs, args.seed) for kind in KINDS}
        out["build_s"] = round(time.perf_counter() - started, 1)
        out["runners"] = {kind: learner.describe() for kind, learner in learners.items()}
        for learner in learners.values():  # the first iteration pays for torch's and RLlib's warm-up
            learner.train()
        runs: dict[tuple[str, str, str], list[tuple[float, float, int]]] = {}
        scores: dict[tuple[str, str], list[float]] = {}
        for rep in range(args.reps):
            raw_runs.append(timed(lambda: raw(range(rep * 1000, rep * 1000 + args.raw_games))))
            for opponent in OPPONENTS:
                order = KINDS if rep % 2 == 0 else tuple(reversed(KINDS))
                for kind in order:
                    learners[kind].meet(opponent, warmup_steps=4 * args.envs)
                for kind in order:
                    runs.setdefault((opponent, "env loop", kind), []).append(
                        timed(lambda: env_loop(kind, opponent, args.env_loop_steps, seed=rep)))
                    learner = learners[kind]
                    runs.setdefault((opponent, "sample", kind), []).append(timed(lambda: learner.sample(args.steps)))
                    runs.setdefault((opponent, "train", kind), []).append(timed(learner.train))
                    scores.setdefault((opponent, kind), []).extend(learner.outcomes())
            print(f"  rep {rep + 1}/{args.reps} done at {time.perf_counter() - started:.0f} s", file=sys.stderr,
                  flush=True)
        out["illegal_actions"] = {kind: learner.illegal_actions() for kind, learner in learners.items()}
        for learner in learners.values():
            learner.algo.stop()
    finally:
        ray.shutdown()
    out["raw_moves_per_s"] = median_rates(raw_runs)
    out["results"] = [{"opponent": o, "measure": m, "kind": k, **median_rates(r)} for (o, m, k), r in runs.items()]
    out["training_scores"] = {f"{o}/{k}": round(float(np.mean(s)), 3) if s else None for (o, k), s in scores.items()}
    return out


def print_table(out: dict[str, Any]) -> None:
    rates = {(r["opponent"], r["measure"], r["kind"]): r for r in out["results"]}
    print(f"Connect Four ({out['env']}), {out['envs_per_runner']} envs, 0 remote EnvRunners, {out['torch_threads']} "
          f"torch threads, median of {out['reps']} reps; env steps/s (learner decisions)")
    for kind, text in out["runners"].items():
        print(f"  {kind}: {text}")
    raw = out["raw_moves_per_s"]
    print(f"  raw OpenSpiel loop, random moves: {raw['wall']:,.0f} moves/s wall, {raw['cpu']:,.0f} per CPU s "
          "(one env step is about two moves)")
    header = (f"{'opponent':<23} {'measure':<9} {'multi':>8} {'single':>8} {'ratio':>6}   "
              f"{'multi/cpu':>9} {'single/cpu':>10} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for opponent in OPPONENTS:
        for measure in ("env loop", "sample", "train"):
            m, s = rates[(opponent, measure, "multi")], rates[(opponent, measure, "single")]
            print(f"{opponent:<23} {measure:<9} {m['wall']:>8,.0f} {s['wall']:>8,.0f} {s['wall'] / m['wall']:>6.2f}   "
                  f"{m['cpu']:>9,.0f} {s['cpu']:>10,.0f} {s['cpu'] / m['cpu']:>6.2f}")
    print(f"illegal actions: {out['illegal_actions']}; learner's mean training score: {out['training_scores']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5, help="repetitions of every measurement (default: 5)")
    parser.add_argument("--steps", type=int, default=4000, help="env steps per timed sample() call (default: 4000)")
    parser.add_argument("--env-loop-steps", type=int, default=5000, help="env steps per env loop (default: 5000)")
    parser.add_argument("--raw-games", type=int, default=1000, help="games per raw OpenSpiel loop (default: 1000)")
    parser.add_argument("--envs", type=int, default=64, help="envs per EnvRunner (default: Arena's 64)")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads (default: 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="also write the measurements as JSON to FILE")
    args = parser.parse_args(argv)
    if min(args.reps, args.steps, args.env_loop_steps, args.raw_games, args.envs, args.torch_threads) < 1:
        parser.error("--reps, --steps, --env-loop-steps, --raw-games, --envs and --torch-threads must be at least 1")
    out = bench(args)
    print_table(out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
