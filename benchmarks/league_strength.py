"""How strong is the main job's learner? Runs the main job's league (leagues/connect_four.toml, pretraining
included) and the same league without pretraining, side by side, then measures each final snapshot.

For each variant it runs `arena league run FILE --db DB` in a subprocess on a fresh store and snapshot folder (the
main job's exact command, all steps timed), then plays, without storing, from openings with seats swapped
(`--openings`, default random:plies=4) on `--workers` workers (default 2):

- the final snapshot of learner `main` against connect_four_heuristic and mcts:simulations=100 (`--games`, 400);
- `puct:snapshot=FINAL,simulations=100` against mcts:simulations=400 (`--puct-games`, 400);
- with pretraining, the cloned snapshot alone (behaviour cloning, before any PPO) against the heuristic and
  MCTS-100, `puct` on it against MCTS-400, and its held-out move accuracy.

It prints the issue's targets next to the figures (final vs heuristic >= 0.75, vs MCTS-100 >= 0.6, puct-100 vs
MCTS-400 >= 0.6, main job <= 10 minutes) and the league's training throughput (env steps per second of league
time). Usage (about 40 minutes on 2 cores with both variants):

    python benchmarks/league_strength.py
    python benchmarks/league_strength.py --only pretrained --games 200 --json
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from arena.config import load
from arena.registry import Registry
from arena.services.headtohead import HeadToHead, head_to_head
from arena.services.recording import open_store
from arena.settings import Settings
from arena.stats import wilson
from arena.store import leagues as state

LEAGUE = Path(__file__).resolve().parent.parent / "leagues" / "connect_four.toml"
ARENA = [sys.executable, "-c", "from arena.cli import main; main()"]
TARGETS = {"heuristic": 0.75, "mcts100": 0.6, "puct_vs_mcts400": 0.6, "minutes": 10.0}


def without_pretraining(text: str) -> str:
    """The league file with its [learners.pretrain] table (and an init) taken out."""
    text = re.sub(r"(?ms)^\[learners\.pretrain\].*?(?=^\[)", "", text)
    return re.sub(r"(?m)^init\s*=.*$", "", text)


def score(reg: Registry, env: str, a: str, b: str, games: int, seed: int, openings: str, workers: int) -> dict:
    doc = head_to_head(reg, HeadToHead(env, (a, b), games=games, seed=seed, workers=workers, openings=openings))
    s = doc["standings"][0]
    low, high = wilson(s["score"], s["games"])
    return {"score": round(s["score"], 3), "ci95": [round(low, 3), round(high, 3)], "games": s["games"]}


def run_variant(name: str, text: str, work: Path, args: argparse.Namespace) -> dict:
    folder = work / name
    folder.mkdir(parents=True)
    league_file = folder / "connect_four.toml"
    league_file.write_text(text)
    env = {**os.environ, "ARENA_SNAPSHOTS": str(folder / "snapshots")}
    print(f"[{name}] arena league run {league_file.name} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.run([*ARENA, "league", "run", str(league_file), "--db", str(folder / "arena.db"),
                           "--run-dir", str(folder / "runs")], env=env, cwd=folder, capture_output=True, text=True)
    minutes = (time.monotonic() - started) / 60
    if proc.returncode != 0:
        raise SystemExit(f"[{name}] the league failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    league = load(league_file)
    with open_store(folder / "arena.db", readonly=True) as store:
        pool = state.pool(store, league.name)
        final = pool.get("main").policy
        rounds = state.rounds(store, league.name)
        league_s = float(state.get(store, league.name)["elapsed_s"])
    steps = int(pool.get("main").steps or 0)
    out = {"variant": name, "minutes": round(minutes, 2), "rounds": len(rounds), "env_steps": steps,
           "steps_per_s": round(steps / league_s, 1) if league_s else None, "final": final}
    os.environ["ARENA_SNAPSHOTS"] = env["ARENA_SNAPSHOTS"]  # the measuring games load the snapshots from here
    reg = Registry(settings=Settings.from_environment())
    c4 = "openspiel/connect_four"
    play = dict(openings=args.openings, workers=args.workers)
    print(f"[{name}] measuring {final} ...", file=sys.stderr, flush=True)
    out["vs_heuristic"] = score(reg, c4, final, "connect_four_heuristic", args.games, args.seed, **play)
    out["vs_mcts100"] = score(reg, c4, final, "mcts:simulations=100", args.games, args.seed + 1, **play)
    puct = f"puct:snapshot={final.removeprefix('snapshot/')},simulations=100"
    out["puct_vs_mcts400"] = score(reg, c4, puct, "mcts:simulations=400", args.puct_games, args.seed + 2, **play)
    for i, opponent in enumerate(args.also):  # held-out opponents beyond the targets' (never training opponents)
        out.setdefault("also", {})[opponent] = score(reg, c4, final, opponent, args.games, args.seed + 10 + i, **play)
    clone = folder / "snapshots" / f"{league.name}-main-pretrain" / "meta.json"
    if clone.is_file():
        meta = json.loads(clone.read_text())
        bc = f"snapshot/{league.name}-main-pretrain"
        out["bc"] = {"held_out_accuracy": meta.get("held_out_accuracy"),
                     "vs_heuristic": score(reg, c4, bc, "connect_four_heuristic", args.games, args.seed + 3, **play),
                     "vs_mcts100": score(reg, c4, bc, "mcts:simulations=100", args.games, args.seed + 4, **play),
                     "puct_vs_mcts400": score(reg, c4, f"puct:snapshot={bc.removeprefix('snapshot/')},simulations=100",
                                              "mcts:simulations=400", args.puct_games, args.seed + 5, **play)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--league", type=Path, default=LEAGUE)
    ap.add_argument("--only", choices=["pretrained", "plain"], default=None)
    ap.add_argument("--games", type=int, default=400)
    ap.add_argument("--puct-games", type=int, default=400)
    ap.add_argument("--openings", default="random:plies=4")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--also", action="append", default=[], metavar="POLICY",
                    help="also score the final snapshot against this policy (repeatable), e.g. alphabeta:depth=4")
    ap.add_argument("--keep", type=Path, default=None, help="keep the leagues' stores and snapshots in this folder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    # the copy runs from a temporary folder: a pretraining data folder is given there by its absolute path
    text = re.sub(r'(?m)^data\s*=\s*"([^"]+)"',
                  lambda m: f'data = "{(args.league.resolve().parent / m.group(1)).resolve()}"', args.league.read_text())
    variants = {"pretrained": text, "plain": without_pretraining(text)}
    if args.only:
        variants = {args.only: variants[args.only]}
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        results = [run_variant(name, t, args.keep.resolve(), args) for name, t in variants.items()]
    else:
        with tempfile.TemporaryDirectory(prefix="arena-strength-") as tmp:
            results = [run_variant(name, t, Path(tmp), args) for name, t in variants.items()]
    if args.json:
        print(json.dumps({"targets": TARGETS, "results": results}, indent=2))
        return 0
    fmt = lambda r, k: f"{r[k]['score']:.3f} [{r[k]['ci95'][0]:.2f}, {r[k]['ci95'][1]:.2f}]" if k in r else "-"
    rows = [("main job minutes", f"<= {TARGETS['minutes']:g}", lambda r: f"{r['minutes']:.1f}"),
            ("rounds", "", lambda r: str(r["rounds"])),
            ("env steps", "", lambda r: f"{r['env_steps']:,}"),
            ("env steps/s (league time)", "", lambda r: f"{r['steps_per_s']}"),
            ("final vs heuristic", f">= {TARGETS['heuristic']}", lambda r: fmt(r, "vs_heuristic")),
            ("final vs mcts-100", f">= {TARGETS['mcts100']}", lambda r: fmt(r, "vs_mcts100")),
            ("puct-100 vs mcts-400", f">= {TARGETS['puct_vs_mcts400']}", lambda r: fmt(r, "puct_vs_mcts400")),
            ("BC alone vs heuristic", "", lambda r: fmt(r["bc"], "vs_heuristic") if "bc" in r else "-"),
            ("BC alone vs mcts-100", "", lambda r: fmt(r["bc"], "vs_mcts100") if "bc" in r else "-"),
            ("puct-100 on BC alone vs mcts-400", "", lambda r: fmt(r["bc"], "puct_vs_mcts400") if "bc" in r else "-"),
            ("BC held-out accuracy", "", lambda r: f"{r['bc']['held_out_accuracy']}" if "bc" in r else "-"),
            *[(f"final vs {o}", "", lambda r, o=o: fmt(r.get("also", {}), o)) for o in args.also]]
    print("\t".join(["figure", "target", *[r["variant"] for r in results]]))
    for label, target, cell in rows:
        print("\t".join([label, target, *[cell(r) for r in results]]))
    print(f"# {args.games} games per match ({args.puct_games} for puct), openings {args.openings}, seats swapped; "
          "score of the first player with its 95% Wilson interval")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
