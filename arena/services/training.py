"""Training one learner: any registered algorithm, reached only through `arena.protocols.Learner`, against a
weighted table of opponents, with stop rules, rated snapshots and evaluation games on K workers. `arena train`
calls it; the league scheduler drives learners itself but creates them with `create_learner`."""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.errors import ParameterError, UsageError
from arena.ids import base_name
from arena.learners import check_hyperparameters, create_learner
from arena.pool import SELF
from arena.protocols import Learner
from arena.services.progress import SILENT, Progress

WINDOW = 200  # training episodes per opponent in the rolling win rate
MIN_EPISODES = 30  # before a rolling win rate may trigger an evaluation


@dataclass(frozen=True)
class TrainRequest:
    env: str
    algo: str = "ppo"
    opponents: Mapping[str, float] = field(default_factory=lambda: {"random": 1.0})  # spec (or "self") -> weight
    stop_win_rate: float | None = None  # stop once the learner scores this against every opponent (confirmed)
    stop_minutes: float = 10.0
    stop_iterations: int | None = None
    name: str | None = None  # snapshot name prefix; default ALGO-GAME-TIME
    snapshot_every: int = 0  # also freeze a snapshot every N iterations
    eval_games: int = 100  # games per opponent to confirm a stop and rate the final snapshot
    hidden: tuple[int, ...] = (128, 128)
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    resources: Mapping[str, Any] = field(default_factory=dict)  # the learner's scale knobs (Learner.create)
    workers: int = 1  # evaluation games in parallel
    snapshots: Path = Path("snapshots")


def parse_opponents(text: str) -> dict[str, float]:
    """'random@2,mcts:simulations=50,uct_c=1.5,self' -> {spec: weight}; a bare key=value joins the spec before it."""
    specs: list[str] = []
    for token in filter(None, (t.strip() for t in text.split(","))):
        if "=" in token and ":" not in token and specs and ":" in specs[-1]:
            specs[-1] += "," + token
        else:
            specs.append(token)
    table = {}
    for spec in specs:
        name, _, weight = spec.rpartition("@") if "@" in spec else (spec, "", "")
        try:
            table[name] = float(weight) if weight else 1.0
        except ValueError:
            raise UsageError(f"Bad opponent weight in {spec!r}: write NAME@WEIGHT, e.g. random@2.") from None
    if not table or any(w <= 0 for w in table.values()):
        raise UsageError(f"--opponents needs at least one opponent with a positive weight, got {text!r}.")
    return table


def evaluate(registry: Any, env: str, player: str, opponents: list[str], games: int, seed: int, *,
             store: Any = None, workers: int = 1) -> dict[str, float]:
    """Score of `player` against each opponent over `games` head-to-head games, all opponents in one batch on
    `workers` workers (stored and rated with a store)."""
    from arena.services.headtohead import HeadToHead, first_player_scores

    others = [o for o in opponents if o != SELF]
    requests = [HeadToHead(env, (player, o), games=games, seed=seed) for o in others]
    return dict(zip(others, first_player_scores(registry, requests, store=store, workers=workers)))


def train(registry: Any, store: Any, request: TrainRequest, *, progress: Progress = SILENT) -> dict[str, Any]:
    """Train until a stop rule fires (or Ctrl-C), freezing rated snapshots; returns a summary of the run."""
    game = registry.make_game(request.env)
    info = game.info
    game.close()
    if info.num_seats != 2:
        raise UsageError(f"arena train plays two-seat games for now; {info.env_id} has {info.num_seats}.")
    for spec in request.opponents:
        if spec != SELF:
            registry.make_policy(spec).check(info)
    problem = check_hyperparameters(registry, request.algo, request.hyperparameters)
    if problem:
        raise ParameterError(problem)
    base = request.name or f"{request.algo}-{base_name(info.env_id)}-{time.strftime('%Y%m%d-%H%M%S')}"
    progress.say(f"Training {request.algo} on {info.env_id} against "
                 f"{', '.join(f'{k} x{v:g}' for k, v in request.opponents.items())}; stop at {request.stop_minutes:g} min"
                 + (f" or a score of {request.stop_win_rate:g}" if request.stop_win_rate else "")
                 + ". Ctrl-C stops and keeps a snapshot.")
    learner = create_learner(registry, request.algo, env=request.env, table=request.opponents,
                             hyperparameters=request.hyperparameters, hidden=request.hidden, seed=request.seed,
                             resources=request.resources)
    run = _Run(registry, store, request, info.env_id, learner, progress)
    try:
        return run.loop(base)
    finally:
        learner.stop()


class _Run:
    """One `train` call's state: rolling win rates, the snapshots frozen so far, the last result."""

    def __init__(self, registry: Any, store: Any, request: TrainRequest, env_id: str, learner: Learner,
                 progress: Progress):
        self.reg, self.store, self.req, self.env_id, self.learner, self.progress = (registry, store, request, env_id,
                                                                                     learner, progress)
        self.windows: dict[str, deque[float]] = {k: deque(maxlen=WINDOW) for k in request.opponents if k != SELF}
        self.snapshots: list[str] = []
        self.illegal = 0

    def loop(self, base: str) -> dict[str, Any]:
        req, learner = self.req, self.learner
        started = last_time = time.monotonic()
        last_steps, stop_reason, scores = 0, "time limit", {}
        try:
            while True:
                result = learner.train()
                now = time.monotonic()
                rate = (result["env_steps"] - last_steps) / max(now - last_time, 1e-9)
                last_steps, last_time = result["env_steps"], now
                self.illegal = int(result.get("illegal_actions", self.illegal))
                for opponent, outcome in result["outcomes"].items():
                    self.windows.setdefault(opponent, deque(maxlen=WINDOW)).extend(outcome)
                rolling = {k: (sum(w) / len(w), len(w)) for k, w in self.windows.items() if w}
                self.progress.say(f"iter {result['iteration']:>4}  steps {result['env_steps']:>9,}  {rate:>7,.0f} "
                                  "steps/s  " + "  ".join(f"{k} {s:.2f} (n={n})" for k, (s, n) in rolling.items()))
                it = result["iteration"]
                if req.snapshot_every and it % req.snapshot_every == 0:
                    self.freeze(f"{base}-it{it}")
                if self.ready_to_stop():
                    name = self.freeze(f"{base}-it{it}")
                    scores = self.evaluate(name, [k for k in self.windows if k != SELF], req.seed)
                    self.progress.say("evaluation: " + "  ".join(f"{k} {s:.3f}" for k, s in scores.items()))
                    if all(s >= req.stop_win_rate for s in scores.values()):  # type: ignore[operator]
                        stop_reason = f"score {req.stop_win_rate:g} reached"
                        break
                if req.stop_iterations and it >= req.stop_iterations:
                    stop_reason = "iteration limit"
                    break
                if now - started >= req.stop_minutes * 60:
                    break
        except KeyboardInterrupt:
            stop_reason = "interrupted"
        final = f"{base}-it{learner.iteration}"
        if not self.snapshots or self.snapshots[-1] != final:  # the last iteration may have been frozen already
            self.freeze(final)
        if not stop_reason.startswith("score"):  # a score stop was just confirmed (and rated) with these games
            scores = self.evaluate(final, [k for k in self.req.opponents if k != SELF], req.seed + 1)
        return {"env": self.env_id, "algo": req.algo, "stop_reason": stop_reason, "iterations": learner.iteration,
                "env_steps": learner.env_steps, "minutes": round((time.monotonic() - started) / 60, 2),
                "illegal_actions": self.illegal, "snapshots": [f"snapshot/{s}" for s in self.snapshots],
                "final": f"snapshot/{final}", "scores": scores, "eval_games": req.eval_games,
                "db": str(self.store.path) if self.store is not None else None}

    def ready_to_stop(self) -> bool:
        target = self.req.stop_win_rate
        return target is not None and bool(self.windows) and all(
            len(w) >= MIN_EPISODES and sum(w) / len(w) >= target for w in self.windows.values())

    def evaluate(self, name: str, opponents: list[str], seed: int) -> dict[str, float]:
        return evaluate(self.reg, self.env_id, f"snapshot/{name}", opponents, self.req.eval_games, seed,
                        store=self.store, workers=self.req.workers)

    def freeze(self, name: str) -> str:
        """Export a snapshot, record it as a player with its lineage, and return its name."""
        parent = f"snapshot/{self.snapshots[-1]}" if self.snapshots else None
        folder = self.learner.snapshot(name, parent=parent, directory=self.req.snapshots / name)
        if self.store is not None:
            self.store.register_player(f"snapshot/{name}", "snapshot", env=self.env_id, parent=parent,
                                       iteration=self.learner.iteration, steps=self.learner.env_steps,
                                       checkpoint=str(folder))
        self.snapshots.append(name)
        self.progress.say(f"snapshot: snapshot/{name} ({folder})")
        return name
