"""`arena train`: one learner on RLlib against a mix of opponents, with progress, stop criteria and snapshots."""
from __future__ import annotations

import time
from collections import deque
from typing import Any

import click

from arena.hookspecs import hookimpl

from .rllib_algorithms import Resources

WINDOW = 200  # training episodes per opponent in the rolling win rate
MIN_EPISODES = 30  # before a rolling win rate may trigger an evaluation


def parse_opponents(text: str) -> dict[str, float]:
    """'random@2,mcts:simulations=50,uct_c=1.5,self' -> {spec: weight}; a bare key=value joins the spec before it."""
    from arena.errors import UsageError

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


def _validate(reg: Any, env: str, opponents: list[str], algo: str) -> Any:
    """Build the game and every opponent once, so a typo fails in one line before Ray starts."""
    from arena.errors import UsageError

    game = reg.make_game(env)
    if game.info.num_seats != 2:
        raise UsageError(f"arena train plays two-seat games for now; {game.info.env_id} has {game.info.num_seats}.")
    for spec in opponents:
        if spec != "self":
            reg.make_policy(spec).check(game.info)
    reg.resolve("algorithm", algo)
    return game


def evaluate(reg: Any, env: str, player: str, opponents: list[str], games: int, seed: int,
             db: str | None) -> dict[str, float]:
    """Score of `player` against each opponent over `games` match-runner games (stored and rated when db is set)."""
    from arena.evaluation import Recorder, open_store
    from arena.match import play_match
    from arena.stats import standings

    scores = {}
    store = open_store(db) if db else None
    try:
        for opponent in opponents:
            if opponent == "self":
                continue
            game = reg.make_game(env)
            participants = [reg.make_policy(player), reg.make_policy(opponent)]
            played = list(play_match(game, participants, games, seed))
            if store is not None:
                with Recorder(store) as recorder:
                    for _, result in played:
                        recorder.add(result)
            scores[opponent] = standings([player, opponent], played)[0].score
    finally:
        if store is not None:
            store.close()
    return scores


@hookimpl
def register_commands(cli):
    @cli.command("train")
    @click.argument("env")
    @click.option("--algo", default="ppo", show_default=True, help="A registered algorithm (arena algorithms).")
    @click.option("--opponents", default="random", show_default=True,
                  help="Comma-separated policies to train against, 'self' for self-play, with optional weights: "
                       "random@2,self@1,mcts:simulations=50.")
    @click.option("--stop-win-rate", type=click.FloatRange(0, 1), default=None,
                  help="Stop once the learner scores this against every opponent (checked with match-runner games).")
    @click.option("--stop-minutes", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True)
    @click.option("--stop-iterations", type=click.IntRange(min=1), default=None)
    @click.option("--name", default=None, help="Snapshot name prefix (default ALGO-GAME-TIME).")
    @click.option("--snapshot-every", type=click.IntRange(min=0), default=0, show_default=True,
                  help="Also freeze a snapshot every N iterations (0: only at the end).")
    @click.option("--eval-games", type=click.IntRange(min=2), default=100, show_default=True,
                  help="Match-runner games per opponent to confirm a stop and rate the final snapshot.")
    @click.option("--hidden", default="128,128", show_default=True, help="Hidden layer sizes.")
    @click.option("--hp", "hyperparameters", multiple=True, help="An RLlib hyperparameter, key=value (repeatable).")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--num-env-runners", type=click.IntRange(min=0), default=0, show_default=True)
    @click.option("--num-envs-per-env-runner", type=click.IntRange(min=1), default=Resources.num_envs_per_env_runner,
                  show_default=True)
    @click.option("--num-learners", type=click.IntRange(min=0), default=0, show_default=True)
    @click.option("--num-gpus-per-learner", type=click.FloatRange(min=0), default=0.0, show_default=True)
    @click.option("--ray-address", default=None, help="Join this Ray cluster instead of starting a local Ray.")
    @click.option("--db", "db_path", envvar="ARENA_DB", default="arena.db", show_default=True,
                  help="Store for the snapshots' rated evaluation games (or $ARENA_DB).")
    @click.pass_context
    def train_cmd(ctx: click.Context, env: str, algo: str, opponents: str, stop_win_rate: float | None,
                  stop_minutes: float, stop_iterations: int | None, name: str | None, snapshot_every: int,
                  eval_games: int, hidden: str, hyperparameters: tuple[str, ...], seed: int, num_env_runners: int,
                  num_envs_per_env_runner: int, num_learners: int, num_gpus_per_learner: float,
                  ray_address: str | None, db_path: str) -> None:
        """Train a learner on ENV against --opponents with RLlib, freezing rated snapshots.

        Example: arena train openspiel/connect_four --opponents random --stop-win-rate 0.95 --stop-minutes 5
        """
        from arena.errors import UsageError
        from arena.registry import parse_spec, split_version

        from .rllib_algorithms import TrainSpec

        reg = ctx.find_root().obj
        table = parse_opponents(opponents)
        game = _validate(reg, env, list(table), algo)
        env_id = game.info.env_id
        hp = dict(parse_spec("x:" + ",".join(hyperparameters))[1]) if hyperparameters else {}
        try:
            sizes = tuple(int(h) for h in hidden.split(","))
        except ValueError:
            raise UsageError(f"--hidden takes sizes like 256,256, not {hidden!r}.") from None
        base = name or f"{algo}-{split_version(env_id.split(':')[0])[0].split('/')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}"
        spec = TrainSpec(env=env, algo=reg.resolve("algorithm", algo).params["algo"], table=table,
                         hyperparameters=hp, hidden=sizes, seed=seed,
                         resources=Resources(num_env_runners, num_envs_per_env_runner, num_learners,
                                             num_gpus_per_learner, ray_address))
        from .rllib_algorithms import _config

        _config(spec)  # hyperparameter typos fail here, before Ray starts
        click.echo(f"Training {algo} on {env_id} against {', '.join(f'{k} x{v:g}' for k, v in table.items())}; "
                   f"stop at {stop_minutes:g} min" + (f" or a score of {stop_win_rate:g}" if stop_win_rate else "")
                   + ". Ctrl-C stops and keeps a snapshot.", err=True)
        from .rllib_algorithms import Session

        session = Session(spec)
        windows: dict[str, deque[float]] = {k: deque(maxlen=WINDOW) for k in table if k != "self"}
        started, last_steps, last_time = time.monotonic(), 0, time.monotonic()
        stop_reason, snapshots, parent, scores = "time limit", [], None, {}
        try:
            while True:
                result = session.train()
                now = time.monotonic()
                rate = (result["env_steps"] - last_steps) / max(now - last_time, 1e-9)
                last_steps, last_time = result["env_steps"], now
                for opponent, scores in result["outcomes"].items():
                    windows.setdefault(opponent, deque(maxlen=WINDOW)).extend(scores)
                rolling = {k: (sum(w) / len(w), len(w)) for k, w in windows.items() if w}
                click.echo(f"iter {result['iteration']:>4}  steps {result['env_steps']:>9,}  {rate:>7,.0f} steps/s  "
                           + "  ".join(f"{k} {s:.2f} (n={n})" for k, (s, n) in rolling.items()), err=True)
                if snapshot_every and result["iteration"] % snapshot_every == 0:
                    parent = _freeze(session, f"{base}-it{result['iteration']}", parent, snapshots, db_path)
                if stop_win_rate is not None and windows and all(
                        len(windows[k]) >= MIN_EPISODES and sum(windows[k]) / len(windows[k]) >= stop_win_rate
                        for k in windows):
                    parent = _freeze(session, f"{base}-it{result['iteration']}", parent, snapshots, db_path)
                    scores = evaluate(reg, env, f"snapshot/{parent}", list(windows), eval_games, seed, db_path)
                    click.echo("evaluation: " + "  ".join(f"{k} {s:.3f}" for k, s in scores.items()), err=True)
                    if all(s >= stop_win_rate for s in scores.values()):
                        stop_reason = f"score {stop_win_rate:g} reached"
                        break
                if stop_iterations and result["iteration"] >= stop_iterations:
                    stop_reason = "iteration limit"
                    break
                if now - started >= stop_minutes * 60:
                    break
        except KeyboardInterrupt:
            stop_reason = "interrupted"
        final = f"{base}-it{session.iteration}"
        if not snapshots or snapshots[-1] != final:  # the last iteration may have been frozen already
            final = _freeze(session, final, parent, snapshots, db_path)
        illegal = session.illegal_actions()
        session.stop()
        if not stop_reason.startswith("score"):  # a score stop was just confirmed (and rated) with these games
            scores = evaluate(reg, env, f"snapshot/{final}", [k for k in table if k != "self"], eval_games,
                              seed + 1, db_path)
        minutes = (time.monotonic() - started) / 60
        click.echo(f"Stopped ({stop_reason}) after {session.iteration} iterations, {session.env_steps:,} env steps, "
                   f"{minutes:.1f} min; illegal actions sampled: {illegal}.", err=True)
        click.echo(f"Final snapshot: snapshot/{final}; against " + ", ".join(f"{k} {s:.3f}" for k, s in scores.items())
                   + f" over {eval_games} games each, rated in {db_path} (arena leaderboard --db {db_path}).")


def _freeze(session: Any, name: str, parent: str | None, snapshots: list[str], db: str) -> str:
    """Export a snapshot, record it as a player with its lineage, and return its name."""
    import json

    from arena.evaluation import open_store

    folder = session.snapshot(name, parent=parent and f"snapshot/{parent}")
    env_id = json.loads((folder / "meta.json").read_text())["env"]
    with open_store(db) as store:
        store.register_player(f"snapshot/{name}", "snapshot", env=env_id, parent=parent and f"snapshot/{parent}",
                              iteration=session.iteration, steps=session.env_steps, checkpoint=str(folder))
    snapshots.append(name)
    click.echo(f"snapshot: snapshot/{name} ({folder})", err=True)
    return name
