"""Training one learner: any registered algorithm, reached only through `arena.protocols.Learner`, against a
weighted table of opponents, with stop rules, rated snapshots and evaluation games on K workers; optionally started
from a snapshot (`init`), or fed by simulators outside Arena that connect over TCP (`external`). An offline
algorithm (`bc`) clones a dataset instead (arena.services.dataset). `arena train` calls it; the league scheduler
drives learners itself but creates them with `create_learner`."""
from __future__ import annotations

import json
import math
import os
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from arena.errors import ParameterError, UnknownIdError, UsageError
from arena.features import FEATURES, feature_dim, lookahead_unavailable, setting_for, version_for
from arena.ids import base_name, family
from arena.learners import check_hyperparameters, create_learner, is_offline, restore
from arena.pool import SELF
from arena.protocols import Learner
from arena.services.external import address, check_external
from arena.services.progress import SILENT, Progress

WINDOW = 200  # training episodes per opponent in the rolling win rate
MIN_EPISODES = 30  # before a rolling win rate may trigger an evaluation
RETURN = "return"  # the score of a game with one side: its mean episode return


@dataclass(frozen=True)
class TrainRequest:
    env: str
    algo: str = "ppo"
    # spec (or "self") -> weight; empty: random, or nobody in a game with one side
    opponents: Mapping[str, float] = field(default_factory=dict)
    stop_win_rate: float | None = None  # stop once the learner scores this against every opponent (confirmed)
    stop_return: float | None = None  # one-side games: stop once the mean return reaches this (confirmed)
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
    init: str | None = None  # start the learner from this snapshot ("snapshot/NAME", a name, or a folder)
    data: Path | None = None  # an offline algorithm's dataset folder (arena dataset export)
    epochs: float | None = None  # an offline algorithm's passes over the data (default 10)
    holdout: float = 0.1  # share of the dataset's games an offline algorithm holds out to measure its accuracy
    # "[HOST:]PORT": train on the episodes of simulators outside Arena that connect there over TCP (env: the spaces)
    external: str | None = None


def split_specs(text: str) -> list[str]:
    """'mcts:simulations=50,uct_c=1.5,random' -> ['mcts:simulations=50,uct_c=1.5', 'random']: commas separate
    specs, and a bare key=value joins the spec before it."""
    specs: list[str] = []
    for token in filter(None, (t.strip() for t in text.split(","))):
        if "=" in token and ":" not in token and specs and ":" in specs[-1]:
            specs[-1] += "," + token
        else:
            specs.append(token)
    return specs


def parse_opponents(text: str) -> dict[str, float]:
    """'random@2,mcts:simulations=50,uct_c=1.5,self' -> {spec: weight}; a bare key=value joins the spec before it."""
    table = {}
    for spec in split_specs(text):
        name, _, weight = spec.rpartition("@") if "@" in spec else (spec, "", "")
        try:
            table[name] = float(weight) if weight else 1.0
        except ValueError:
            raise UsageError(f"Bad opponent weight in {spec!r}: write NAME@WEIGHT, e.g. random@2.") from None
    if not table or not all(0 < w < math.inf for w in table.values()):  # also false for nan
        raise UsageError(f"--opponents needs at least one opponent, each with a positive finite weight, got {text!r}.")
    return table


def evaluate(registry: Any, env: str, player: str, opponents: list[str], games: int, seed: int, *,
             store: Any = None, workers: int = 1, seats: int = 2) -> dict[str, float]:
    """Score of `player` against each opponent over `games` head-to-head games, all opponents in one batch on
    `workers` workers (stored and rated with a store). In a game of `seats` seats the opponent fills every other
    seat; the score is then the share of the other seats beaten, as in training."""
    from arena.services.headtohead import HeadToHead, first_player_scores

    others = [o for o in opponents if o != SELF]
    requests = [HeadToHead(env, (player,) + (o,) * (seats - 1), games=games, seed=seed) for o in others]
    return dict(zip(others, first_player_scores(registry, requests, store=store, workers=workers)))


def evaluate_return(registry: Any, env: str, player: str, games: int, seed: int, *, store: Any = None,
                    workers: int = 1) -> tuple[float, tuple[float | None, float | None]]:
    """A game with one side: `player`'s mean return over `games` games, with its 95% interval (stored with a store, for
    the return leaderboard)."""
    from arena.services.headtohead import HeadToHead, first_player_standings
    from arena.stats import mean_interval

    (standing,) = first_player_standings(registry, [HeadToHead(env, (player,), games=games, seed=seed)],
                                         store=store, workers=workers)
    return standing.score, mean_interval(standing.games, standing.total_score, standing.total_square)


def train(registry: Any, store: Any, request: TrainRequest, *, progress: Progress = SILENT) -> dict[str, Any]:
    """Train until a stop rule fires (or Ctrl-C), freezing rated snapshots; returns a summary of the run."""
    if is_offline(registry, request.algo):
        if request.external is not None:
            raise UsageError(f"--external trains on the episodes simulators send; {request.algo} learns from --data.")
        return _clone(registry, store, request, progress)
    if request.data is not None:
        raise UsageError(f"--data is for offline algorithms such as bc; {request.algo} learns by playing "
                         "(start it from a cloned snapshot with --init).")
    game = registry.make_game(request.env)
    info = game.info
    game.close()
    external = check_external(registry, request, info, progress) if request.external is not None else None
    request = _check_seats(request, info)
    for spec in request.opponents:
        if spec != SELF:
            registry.make_policy(spec).check(info)
    problem = check_hyperparameters(registry, request.algo, request.hyperparameters)
    if problem:
        raise ParameterError(problem)
    lookahead = request.hyperparameters.get("lookahead", False)
    if lookahead and lookahead_unavailable(info):
        raise ParameterError(f"lookahead: {lookahead_unavailable(info)}.")
    if request.hyperparameters.get("anchor") and not request.init:
        raise UsageError("--hp anchor holds the policy to the snapshot it starts from: give --init snapshot/NAME.")
    init = check_init(request.init, info, request.hidden, request.snapshots,
                      version_for(lookahead)) if request.init else None
    base = request.name or f"{request.algo}-{base_name(info.env_id)}-{time.strftime('%Y%m%d-%H%M%S')}"
    whom = "alone (one side)" if info.cooperative else "against " + ", ".join(
        f"{k} x{v:g}" for k, v in request.opponents.items())
    if external:
        whom = f"on the episodes of simulators connecting to {address(request, *external)}"
    progress.say(f"Training {request.algo} on {info.env_id} {whom}; stop at {request.stop_minutes:g} min"
                 + (f" or a score of {request.stop_win_rate:g}" if request.stop_win_rate is not None else "")
                 + (f" or a mean return of {request.stop_return:g}" if request.stop_return is not None else "")
                 + ". Ctrl-C stops and keeps a snapshot.")
    learner = create_learner(registry, request.algo, env=request.env, table=request.opponents,
                             hyperparameters=request.hyperparameters, hidden=request.hidden, seed=request.seed,
                             resources=request.resources, external=external)
    run = _Run(registry, store, request, info, learner, progress)
    try:
        if init is not None:
            restore(learner, init[1], request.algo)
            run.parent = init[0]
            if store is not None:  # the lineage's root must be a player (a clone made with another store)
                store.register_player(init[0], "snapshot", env=info.env_id, checkpoint=str(init[1]))
            progress.say(f"Starting from {init[0]} ({init[1]}).")
        if external:
            progress.say(f"Waiting for simulators on {address(request, *external)}.")
        return {**run.loop(base), "init": init[0] if init else None,
                **({"external": address(request, *external)} if external else {})}
    finally:
        learner.stop()


def _check_seats(request: TrainRequest, info: Any) -> TrainRequest:
    """The request with its table for this game: a game with one side (one seat, or a cooperative team) has no
    opponents (the learner plays alone, and is stopped by its mean return); other games meet random unless told
    otherwise (and are stopped by a score). A simulation's agent-to-module mapping (`--hp sharing=..., team=...`)
    must fit its agents."""
    from arena.learners import mapping_problem

    hp = request.hyperparameters
    problem = mapping_problem(info, hp.get("sharing", "all"), hp.get("team"))
    if problem:
        key, _, text = problem.partition(": ")
        raise ParameterError((text if key == "env" else f"--hp {key}: {text}") + ".")
    what = "one seat" if info.num_seats == 1 else "one side (a cooperative team)"
    if info.cooperative:
        if [o for o in request.opponents if o != SELF]:
            raise UsageError(f"{info.env_id} has {what}: the learner plays alone, with no opponents; leave out "
                             "--opponents.")
        if request.stop_win_rate is not None:
            raise UsageError(f"{info.env_id} has {what}, so there is no win rate: stop at a mean return with "
                             "--stop-return R.")
        if hp.get("team"):
            raise UsageError(f"{info.env_id} has {what}: the learner plays every agent; leave out team.")
        return replace(request, opponents={SELF: 1.0})
    if request.stop_return is not None:
        raise UsageError(f"--stop-return is for games with one side; {info.env_id} has {len(info.sides)}: stop at a "
                         "score with --stop-win-rate.")
    if hp.get("team") and SELF in request.opponents:
        raise UsageError(f"A learner bound to team {hp['team']} cannot play itself: give --opponents for the other "
                         "teams.")
    return request if request.opponents else replace(request, opponents={"random": 1.0})


def snapshot_folder(spec: str, snapshots: Path) -> tuple[str, Path]:
    """(player id, folder) of a snapshot given as `snapshot/NAME`, `NAME` or a folder path; one line when it is not
    there."""
    name = spec.removeprefix("snapshot/")
    folder = Path(name) if os.sep in name or name.startswith(".") else Path(snapshots) / name
    if not (folder / "meta.json").is_file():
        if not folder.exists():
            known = sorted(p.name for p in Path(snapshots).iterdir() if (p / "meta.json").is_file()) \
                if Path(snapshots).is_dir() else []
            raise UnknownIdError("snapshot", name, known, "arena snapshots", where=str(snapshots))
        raise UsageError(f"Snapshot {folder} is incomplete: meta.json is missing.")
    return f"snapshot/{folder.name}", folder


def check_init(spec: str, info: Any, hidden: tuple[int, ...], snapshots: Path,
               features: int = FEATURES) -> tuple[str, Path]:
    """Check, before anything starts, that snapshot `spec` can seed a learner of this game with these hidden sizes;
    returns (its player id, its folder)."""
    player, folder = snapshot_folder(spec, snapshots)
    try:
        meta = json.loads((folder / "meta.json").read_text())
        env, obs_dim, actions = str(meta["env"]), int(meta["obs_dim"]), int(meta["num_actions"])
        layers = [int(h) for h in meta["hidden"]]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"--init {player}: {folder / 'meta.json'} is not a snapshot's metadata.") from None
    if family(env) != family(info.env_id):
        raise UsageError(f"--init {player} was trained on {env}, not {info.env_id}.")
    if int(meta.get("features", 1)) != features:
        setting = setting_for(int(meta.get("features", 1)))
        hint = f" (set hyperparameter {setting} for a snapshot that has them)" if setting else ""
        raise UsageError(f"--init {player} sees feature encoding {meta.get('features', 1)}, this learner {features}"
                         f"{hint}; it plays, but cannot seed this learner.")
    if obs_dim != feature_dim(info, features) or actions != info.num_actions:
        raise UsageError(f"--init {player} sees {obs_dim} features and {actions} actions, {info.env_id} "
                         f"{feature_dim(info, features)} and {info.num_actions}.")
    if layers != list(hidden):
        raise UsageError(f"--init {player} has hidden layers {','.join(map(str, layers)) or 'none'}, this run "
                         f"{','.join(map(str, hidden))}; pass --hidden {','.join(map(str, layers))}.")
    if meta.get("activation", "tanh") != "tanh":
        raise UsageError(f"--init {player} uses {meta['activation']} units; the learners here use tanh.")
    return player, folder


def _clone(registry: Any, store: Any, request: TrainRequest, progress: Progress) -> dict[str, Any]:
    """`arena train --algo bc --data DIR`: behaviour cloning, evaluated like a training run's final snapshot."""
    from arena.services.cloning import behaviour_clone, data_players, read

    if request.data is None:
        raise UsageError(f"{request.algo} learns from a dataset: give --data DIR (write one with "
                         "`arena dataset export`).")
    if request.init:
        raise UsageError(f"--init starts a learner that plays; {request.algo} starts from its --data.")
    opponents = [o for o in request.opponents if o != SELF] or data_players(read(request.data))
    started = time.monotonic()
    doc = behaviour_clone(registry, request.env, request.data, hidden=request.hidden, seed=request.seed,
                          name=request.name, snapshots_dir=request.snapshots, minutes=request.stop_minutes,
                          epochs=request.epochs, iterations=request.stop_iterations, holdout=request.holdout,
                          algo=request.algo, hyperparameters=request.hyperparameters, resources=request.resources,
                          store=store, opponents=opponents, eval_games=request.eval_games, workers=request.workers,
                          progress=progress)
    return {**doc, "stop_reason": "interrupted" if doc.get("interrupted") else "data cloned", "env_steps": 0,
            "illegal_actions": 0,
            "minutes": round((time.monotonic() - started) / 60, 2), "snapshots": [doc["snapshot"]],
            "final": doc["snapshot"], "scores": doc.get("scores", {}), "eval_games": request.eval_games,
            "db": str(store.path) if store is not None else None, "init": None}


class _Run:
    """One `train` call's state: rolling win rates, the snapshots frozen so far, the last result."""

    def __init__(self, registry: Any, store: Any, request: TrainRequest, info: Any, learner: Learner,
                 progress: Progress):
        self.reg, self.store, self.req, self.env_id, self.learner, self.progress = (registry, store, request,
                                                                                     info.env_id, learner, progress)
        self.seats = len(info.sides)  # players in a match: one per seat, or one per team
        # rolling scores per opponent; a one-side game's rolling episode return, under RETURN
        self.windows: dict[str, deque[float]] = {k: deque(maxlen=WINDOW) for k in request.opponents if k != SELF}
        if self.seats == 1:
            self.windows = {RETURN: deque(maxlen=WINDOW)}
        self.target = request.stop_return if self.seats == 1 else request.stop_win_rate
        self.interval: tuple[float | None, float | None] | None = None  # the last evaluated mean return's
        self.snapshots: list[str] = []
        self.parent: str | None = None  # what the first snapshot descends from (--init)
        self.illegal = 0
        self.episodes = 0  # a game with one side: training episodes so far

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
                    if opponent != SELF:
                        self.windows.setdefault(opponent, deque(maxlen=WINDOW)).extend(outcome)
                if self.seats == 1:
                    self.windows[RETURN].extend(result.get("returns", ()))
                    self.episodes += len(result.get("returns", ()))
                rolling = {k: (sum(w) / len(w), len(w)) for k, w in self.windows.items() if w}
                self.progress.say(f"iter {result['iteration']:>4}  steps {result['env_steps']:>9,}  {rate:>7,.0f} "
                                  "steps/s  " + "  ".join(f"{k} {s:.2f} (n={n})" for k, (s, n) in rolling.items())
                                  + (f"  episodes {self.episodes:,}" if self.seats == 1 else ""))
                it = result["iteration"]
                if req.snapshot_every and it % req.snapshot_every == 0:
                    self.freeze(f"{base}-it{it}")
                if self.ready_to_stop():
                    name = self.freeze(f"{base}-it{it}")
                    scores = self.evaluate(name, [k for k in self.windows if k != SELF], req.seed)
                    self.progress.say("evaluation: " + "  ".join(f"{k} {s:.3f}" for k, s in scores.items()))
                    if all(s >= self.target for s in scores.values()):  # type: ignore[operator]
                        stop_reason = f"{'return' if self.seats == 1 else 'score'} {self.target:g} reached"
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
        if not stop_reason.endswith("reached"):  # a stop was just confirmed (and rated) with these games
            scores = self.evaluate(final, [k for k in self.req.opponents if k != SELF], req.seed + 1)
        return {"env": self.env_id, "algo": req.algo, "stop_reason": stop_reason, "iterations": learner.iteration,
                "env_steps": learner.env_steps, "minutes": round((time.monotonic() - started) / 60, 2),
                "illegal_actions": self.illegal, "snapshots": [f"snapshot/{s}" for s in self.snapshots],
                "final": f"snapshot/{final}", "scores": scores, "eval_games": req.eval_games,
                "db": str(self.store.path) if self.store is not None else None,
                **({"return_ci95": list(self.interval)} if self.interval else {})}

    def ready_to_stop(self) -> bool:
        target = self.target
        return target is not None and bool(self.windows) and all(
            len(w) >= MIN_EPISODES and sum(w) / len(w) >= target for w in self.windows.values())

    def evaluate(self, name: str, opponents: list[str], seed: int) -> dict[str, float]:
        """The snapshot's score against each opponent, or in a game with one side {RETURN: its mean return}."""
        if self.seats == 1:
            mean, self.interval = evaluate_return(self.reg, self.env_id, f"snapshot/{name}", self.req.eval_games,
                                                  seed, store=self.store, workers=self.req.workers)
            return {RETURN: mean}
        return evaluate(self.reg, self.env_id, f"snapshot/{name}", opponents, self.req.eval_games, seed,
                        store=self.store, workers=self.req.workers, seats=self.seats)

    def freeze(self, name: str) -> str:
        """Export a snapshot, record it as a player with its lineage, and return its name."""
        parent = f"snapshot/{self.snapshots[-1]}" if self.snapshots else self.parent
        folder = self.learner.snapshot(name, parent=parent, directory=self.req.snapshots / name)
        if self.store is not None:
            self.store.register_player(f"snapshot/{name}", "snapshot", env=self.env_id, parent=parent,
                                       iteration=self.learner.iteration, steps=self.learner.env_steps,
                                       checkpoint=str(folder))
        self.snapshots.append(name)
        self.progress.say(f"snapshot: snapshot/{name} ({folder})")
        return name
