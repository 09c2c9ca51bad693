"""What learners reach on the Multi Particle simulations in 10 minutes on this machine, against the heuristics.

simple_spread (cooperative): `arena train mpe/simple_spread --stop-minutes M` (one module shared by the three agents,
sharing = "all"), then the final snapshot, `random` and `mpe-spread` each play the same --games episodes: mean team
return with its 95% interval. Target (issue 17): above random, and within 20% of mpe-spread.

simple_tag (competitive): `arena league run leagues/simple_tag.toml` for M minutes (its own stop rule is replaced by
--minutes): two learners, predators (team adversaries) and prey (team good), co-train against each other's snapshots
and the heuristics. Then, over the same --games episodes, tags per episode (prey-predator contacts per step, summed:
the predators' mean team return / 10):
  - the learned predators against mpe-flee, and mpe-chase against mpe-flee (target: learned more);
  - mpe-chase against the learned prey, and mpe-chase against mpe-flee (target: learned fewer).
Neither learner trained on these seeds, and the prey never met mpe-chase as the only opponent.

    python benchmarks/simulation_learning.py [--minutes 10] [--games 200] [--only spread|tag] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from arena.match import play_game
from arena.registry import Registry
from arena.stats import mean_interval

ROOT = Path(__file__).resolve().parents[1]


def team_returns(reg: Registry, env: str, players: list[str], games: int, seed: int) -> np.ndarray:
    """Each episode's team returns, players seated one per team in team order, on seeds seed..seed+games-1."""
    game = reg.make_game(env)
    policies = [reg.make_policy(p) for p in players]
    for p in policies:
        p.check(game.info)
    out = np.array([play_game(game, policies, seed + i).returns for i in range(games)])
    game.close()
    return out


def show(label: str, values: np.ndarray) -> str:
    lo, hi = mean_interval(len(values), float(values.sum()), float((values ** 2).sum()))
    return f"{label:<44} {values.mean():8.2f}  [{lo:.2f}, {hi:.2f}]"


def spread(args: argparse.Namespace, reg: Registry, tmp: Path) -> list[str]:
    from arena.services.progress import SILENT
    from arena.services.recording import open_store
    from arena.services.training import TrainRequest, train

    with open_store(tmp / "spread.db") as store:
        doc = train(reg, store, TrainRequest(env="mpe/simple_spread", stop_minutes=args.minutes, eval_games=20,
                                             seed=args.seed, name="spread", hidden=(64, 64),
                                             hyperparameters={k: json.loads(v) for k, v in
                                                              (h.split("=", 1) for h in args.hp)},
                                             snapshots=reg.settings.snapshots), progress=SILENT)
    env, seed, n = "mpe/simple_spread", 10_000 + args.seed, args.games
    learned = team_returns(reg, env, [doc["final"]], n, seed)[:, 0]
    rand = team_returns(reg, env, ["random"], n, seed)[:, 0]
    heur = team_returns(reg, env, ["mpe-spread"], n, seed)[:, 0]
    ratio = learned.mean() / heur.mean()  # both negative: 1.2 is 20% worse than the heuristic
    return [f"simple_spread: {doc['minutes']:.1f} min of training, {doc['env_steps']:,} env steps, {n} episodes each; "
            "mean team return [95% CI]",
            show("random", rand), show("mpe-spread", heur), show(f"learned ({doc['final']})", learned),
            f"  above random: {learned.mean() > rand.mean()}; learned / mpe-spread = {ratio:.2f} "
            f"(within 20%: {ratio <= 1.2})"]


def tag(args: argparse.Namespace, reg: Registry, tmp: Path) -> list[str]:
    from arena.services.recording import open_store
    from arena.store import leagues as state

    text = (ROOT / "leagues" / "simple_tag.toml").read_text()
    text = re.sub(r"\[stop\][^\[]*", f"[stop]\nminutes = {args.minutes}\n", text)
    league = tmp / "simple_tag.toml"
    league.write_text(text.replace("seed = 0", f"seed = {args.seed}"))
    db = tmp / "tag.db"
    out = subprocess.run([str(Path(sys.executable).with_name("arena")), "league", "run", str(league), "--db", str(db)],
                         capture_output=True, text=True, env=os.environ.copy())
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    with open_store(db, readonly=True) as store:
        pool = state.pool(store, "simple_tag")
        pred, prey = pool.get("predators"), pool.get("prey")
    env, seed, n = "mpe/simple_tag", 10_000 + args.seed, args.games
    tags = {label: team_returns(reg, env, players, n, seed)[:, 0] / 10 for label, players in {
        "mpe-chase vs mpe-flee": ["mpe-chase", "mpe-flee"],
        f"learned predators ({pred.policy}) vs mpe-flee": [pred.policy, "mpe-flee"],
        f"mpe-chase vs learned prey ({prey.policy})": ["mpe-chase", prey.policy]}.items()}
    chase, learned_pred, learned_prey = tags.values()
    return [f"simple_tag: league of {args.minutes:g} min (predators it {pred.iteration}, {pred.steps:,} steps; prey it "
            f"{prey.iteration}, {prey.steps:,} steps), {n} episodes each; tags per episode [95% CI]",
            *(show(label, t) for label, t in tags.items()),
            f"  learned predators tag more than mpe-chase: {learned_pred.mean() > chase.mean()}; "
            f"learned prey tagged less than mpe-flee: {learned_prey.mean() < chase.mean()}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--games", type=int, default=200)
    ap.add_argument("--only", choices=["spread", "tag"], default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                    help="a PPO hyperparameter for simple_spread's learner (to compare against the defaults)")
    args = ap.parse_args()
    from arena.logs import quiet_ray

    quiet_ray()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ARENA_SNAPSHOTS"] = str(Path(tmp) / "snapshots")
        reg = Registry()
        for name, run in (("spread", spread), ("tag", tag)):
            if args.only in (None, name):
                block = run(args, reg, Path(tmp))
                print("\n".join(block) + "\n", flush=True)


if __name__ == "__main__":
    main()
