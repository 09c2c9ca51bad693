"""Time to 95% wins against random on Connect Four: Arena's masked PPO self-play vs RLlib's self-play example recipe.

Arena's learner meets itself (latest self-play) and `random`, weighted by --table (default self=1, random=3: a
quarter of its games against itself, where it plays both seats). With self=1, random=1 (run history in benchmarks/RESULTS.md)
it often plateaued around 0.9 against random. It trains with Arena's defaults (PPO with gamma 0.9 and 2,000-step
batches, 64 envs per EnvRunner); --hp, --hp-json, --hidden and --envs change them.

Both run in this process, one after the other, on the same machine with the same number of EnvRunners, and both
are judged the same way: every --eval-every seconds of training, the current policy plays --eval-games greedy games
against `random` through Arena's match runner. Training time excludes those evaluations.

The anchor is rllib/examples/multi_agent/self_play_with_open_spiel.py rebuilt as its script builds it: RLlib's
OpenSpielEnv (an illegal move is replaced by a random one, -0.1), its SelfPlayCallback with a 0.95 threshold, a
"main" module against RandomRLModule, 512x512 layers, PPO with num_epochs=20. Its "main" is evaluated like the
example's own play loop: argmax of the logits, a random legal move when that is illegal.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from arena.match import play_match
from arena.plugins.rllib_algorithms import Resources
from arena.policy import BoundPolicy
from arena.registry import Registry
from arena.stats import standings

ENV = "openspiel/connect_four"


def score_vs_random(reg: Registry, player: BoundPolicy, games: int, seed: int) -> float:
    game = reg.make_game(ENV)
    return standings(["p", "random"], play_match(game, [player, reg.make_policy("random")], games, seed))[0].score


def race(name: str, train: Callable[[], int], evaluate: Callable[[int], float], minutes: float, eval_every: float,
         target: float) -> dict[str, Any]:
    """Train until the evaluated score reaches target or the training clock passes the cap."""
    clock, steps, best, history, evals = 0.0, 0, 0.0, [], 0
    last_eval = 0.0
    while clock < minutes * 60:
        started = time.perf_counter()
        steps = train()
        clock += time.perf_counter() - started
        if clock - last_eval >= eval_every or clock >= minutes * 60:
            last_eval = clock
            evals += 1
            score = evaluate(evals)
            best = max(best, score)
            history.append((round(clock, 1), steps, round(score, 3)))
            print(f"  {name}: {clock / 60:5.2f} min  {steps:>9,} steps  score vs random {score:.3f}", flush=True)
            if score >= target:
                return {"name": name, "reached": True, "minutes": clock / 60, "env_steps": steps, "best": best,
                        "history": history}
    return {"name": name, "reached": False, "minutes": clock / 60, "env_steps": steps, "best": best,
            "history": history}


def arena_run(args: argparse.Namespace, reg: Registry, snapshots: Path) -> dict[str, Any]:
    from arena.plugins.rllib_algorithms import Session, TrainSpec
    from arena.plugins.snapshot import policy_for

    session = Session(TrainSpec(env=ENV, table=args.table, seed=args.seed, hyperparameters=args.hp,
                                hidden=tuple(int(h) for h in args.hidden.split(",")),
                                resources=Resources(num_env_runners=args.env_runners,
                                                    num_envs_per_env_runner=args.envs)))
    try:
        def evaluate(i: int) -> float:
            folder = session.snapshot(f"eval-{i}", directory=snapshots / f"eval-{i}")
            return score_vs_random(reg, BoundPolicy("arena", policy_for(str(folder))()), args.eval_games, i)

        return race("arena", lambda: session.train()["env_steps"], evaluate, args.minutes, args.eval_every,
                    args.target)
    finally:
        session.stop()


class AnchorMain:
    """The anchor's "main" module playing through Arena's match runner, as the example's play loop does."""

    def __init__(self, module: Any):
        self.module = module

    def act(self, state: Any, seat: int, legal_actions: list[int], rng: np.random.Generator) -> int:
        import torch

        obs = torch.from_numpy(np.asarray(state.observation_tensor(seat), dtype=np.float32)[None])
        with torch.no_grad():
            logits = self.module.forward_inference({"obs": obs})["action_dist_inputs"][0].numpy()
        action = int(np.argmax(logits))
        return action if action in legal_actions else int(rng.choice(legal_actions))


def anchor_run(args: argparse.Namespace, reg: Registry) -> dict[str, Any]:
    import functools

    import pyspiel
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.wrappers.open_spiel import OpenSpielEnv
    from ray.rllib.examples.multi_agent.utils import SelfPlayCallback
    from ray.rllib.examples.rl_modules.classes.random_rlm import RandomRLModule
    from ray.tune.registry import register_env

    register_env("open_spiel_env", lambda _: OpenSpielEnv(pyspiel.load_game("connect_four")))

    def agent_to_module_mapping_fn(agent_id: Any, episode: Any, **kwargs: Any) -> str:
        return "main" if hash(episode.id_) % 2 == agent_id else "random"

    config = (
        PPOConfig()
        .environment("open_spiel_env")
        .callbacks(functools.partial(SelfPlayCallback, win_rate_threshold=0.95))
        .env_runners(num_env_runners=args.env_runners, num_envs_per_env_runner=1)
        .multi_agent(policies={"main", "random"}, policy_mapping_fn=agent_to_module_mapping_fn,
                     policies_to_train=["main"])
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[512, 512]),
                   rl_module_spec=MultiRLModuleSpec(rl_module_specs={
                       "main": RLModuleSpec(), "random": RLModuleSpec(module_class=RandomRLModule)}))
        .training(num_epochs=20)
        .debugging(seed=args.seed)
    )
    algo = config.build_algo()
    try:
        def train() -> int:
            result = algo.train()
            return int(result["env_runners"].get("num_env_steps_sampled_lifetime", 0))

        def evaluate(i: int) -> float:
            return score_vs_random(reg, BoundPolicy("anchor", AnchorMain(algo.get_module("main"))),
                                   args.eval_games, i)

        return race("rllib-example", train, evaluate, args.minutes, args.eval_every, args.target)
    finally:
        algo.stop()


def parse_table(text: str) -> dict[str, float]:
    pairs = (item.split("=") for item in text.split(","))
    return {name.strip(): float(weight) for name, weight in pairs}


def parse_hyperparameters(text: str) -> dict[str, float | int]:
    """name=value pairs; whole numbers stay ints (RLlib counts epochs and minibatches with them)."""
    return {name: int(value) if value.is_integer() else value for name, value in parse_table(text).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=16.0, help="training-time cap per recipe (16)")
    parser.add_argument("--env-runners", type=int, default=1, help="EnvRunners for both recipes (1)")
    parser.add_argument("--eval-every", type=float, default=30.0, help="seconds of training between evaluations")
    parser.add_argument("--eval-games", type=int, default=200, help="games against random per evaluation (200)")
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", type=parse_table, default="self=1,random=3",
                        help="Arena's training table, opponent=weight pairs (self=1,random=3)")
    parser.add_argument("--hp", type=parse_hyperparameters, default={}, help="Arena's PPO hyperparameters ('lambda_=0.95')")
    parser.add_argument("--hp-json", type=json.loads, default={},
                        help="more of Arena's hyperparameters as JSON ('{\"lr\": [[0, 5e-4], [4e5, 1e-4]]}')")
    parser.add_argument("--hidden", default="128,128", help="Arena learner's hidden layers ('128,128')")
    parser.add_argument("--envs", type=int, default=Resources.num_envs_per_env_runner,
                        help="Arena's envs per EnvRunner (Arena's default; the recipe keeps its script's 1)")
    parser.add_argument("--only", choices=["arena", "anchor"], default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.hp = {**args.hp, **args.hp_json}

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    reg = Registry()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "arena"):
            runs.append(arena_run(args, reg, Path(tmp)))
        if args.only in (None, "anchor"):
            runs.append(anchor_run(args, reg))
    ray.shutdown()
    if args.json:
        print(json.dumps(runs, indent=2))
        return
    print(f"\n{'recipe':<14} {'reached':>7} {'minutes':>8} {'env steps':>10} {'best score':>10}")
    for r in runs:
        print(f"{r['name']:<14} {str(r['reached']):>7} {r['minutes']:>8.2f} {r['env_steps']:>10,} {r['best']:>10.3f}")
    if len(runs) == 2:
        arena, anchor = runs
        bound = "" if anchor["reached"] else " (anchor did not reach the target: its time is a lower bound)"
        print(f"arena time / anchor time: {arena['minutes'] / anchor['minutes']:.2f}{bound}; "
              f"target <= 0.33: {'MEETS' if arena['reached'] and arena['minutes'] <= anchor['minutes'] / 3 else 'BELOW'}")


if __name__ == "__main__":
    main()
