"""`arena train`: parse the options, call the training service with any registered algorithm, render the result."""
from __future__ import annotations

from typing import Any

import click

from arena.cli.options import (MAX_GAMES, MAX_WORKERS, FiniteFloatRange, db_option, json_option, ray_option, seed_option,
                               workers_option)
from arena.features import setting_for


@click.command("train")
@click.argument("env")
@click.option("--algo", default="ppo", show_default=True, help="A registered algorithm (arena algorithms).")
@click.option("--opponents", default=None,
              help="Comma-separated policies to train against, 'self' for self-play, with optional weights: "
                   "random@2,self@1,mcts:simulations=50 (default: random; with --algo bc, the players whose moves "
                   "fill the data, to rate the clone against).")
@click.option("--init", default=None, metavar="snapshot/NAME",
              help="Start the learner from this snapshot: its policy and, when it kept one, its value head.")
@click.option("--data", type=click.Path(), default=None,
              help="Dataset folder for an offline algorithm (--algo bc), written by `arena dataset export`.")
@click.option("--epochs", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Offline algorithms: passes over the data (default 10, or until --stop-iterations).")
@click.option("--holdout", type=FiniteFloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Offline algorithms: share of the data's games held out to measure the accuracy on.")
@click.option("--external", default=None, metavar="[HOST:]PORT",
              help="Train on episodes from simulators outside Arena that connect to this port (RLlib's server "
                   "EnvRunner; ENV gives the spaces and rates the snapshots; examples/external_cartpole.py). "
                   "Listens on localhost unless HOST is given.")
@click.option("--stop-win-rate", type=FiniteFloatRange(0, 1), default=None,
              help="Stop once the learner scores this against every opponent (checked with match-runner games).")
@click.option("--stop-return", type=FiniteFloatRange(), default=None,
              help="Games with one side (one seat, a cooperative team): stop once the learner's mean return reaches this (checked with match-runner "
                   "games).")
@click.option("--stop-minutes", type=FiniteFloatRange(min=0, min_open=True), default=10.0, show_default=True)
@click.option("--stop-iterations", type=click.IntRange(min=1), default=None)
@click.option("--name", default=None, help="Snapshot name prefix (default ALGO-GAME-TIME).")
@click.option("--snapshot-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also freeze a snapshot every N iterations (0: only at the end).")
@click.option("--eval-games", type=click.IntRange(2, MAX_GAMES), default=100, show_default=True,
              help="Match-runner games per opponent to confirm a stop and rate the final snapshot.")
@workers_option("Evaluation games in parallel (worker processes).")
@click.option("--hidden", default="128,128", show_default=True, help="Hidden layer sizes.")
@click.option("--hp", "hyperparameters", multiple=True, help="A hyperparameter of the algorithm, key=value (repeatable).")
@seed_option("Training seed.", default=0, max=2**32 - 1)
@click.option("--num-env-runners", type=click.IntRange(0, MAX_WORKERS), default=None,
              help="Sampling workers (the algorithm's default: 0, sampling in this process).")
@click.option("--num-envs-per-env-runner", type=click.IntRange(1, 4_096), default=None,
              help="Vectorised envs per sampling worker (the algorithm's default: 64 for PPO).")
@click.option("--num-learners", type=click.IntRange(0, MAX_WORKERS), default=None)
@click.option("--num-gpus-per-learner", type=FiniteFloatRange(min=0), default=None)
@ray_option("Train on this Ray cluster (HOST:PORT of its head, or 'auto') instead of a local Ray")
@json_option("Print the run's summary as JSON.")
@db_option("Store for the snapshots' rated evaluation games")
@click.pass_context
def train_cmd(ctx: click.Context, env: str, algo: str, opponents: str | None, init: str | None, data: str | None,
              epochs: float | None, holdout: float, external: str | None, stop_win_rate: float | None,
              stop_return: float | None, stop_minutes: float, stop_iterations: int | None, name: str | None,
              snapshot_every: int, eval_games: int, workers: int, hidden: str, hyperparameters: tuple[str, ...],
              seed: int, num_env_runners: int | None, num_envs_per_env_runner: int | None, num_learners: int | None,
              num_gpus_per_learner: float | None, ray_address: str | None, as_json: bool, db_path: str) -> None:
    """Train a learner on ENV against --opponents, freezing rated snapshots.

    \b
    Examples:
      arena train openspiel/connect_four --opponents random --stop-win-rate 0.95 --stop-minutes 5
      arena train openspiel/connect_four --algo bc --data data/c4 --name c4-bc
      arena train openspiel/connect_four --init snapshot/c4-bc --opponents connect_four_heuristic,self
      arena train gymnasium/Taxi-v3 --stop-return 7 --stop-minutes 5
      arena train gymnasium/CartPole-v1 --external 5555   (then: python examples/external_cartpole.py --port 5555)
    """
    from pathlib import Path

    from arena.errors import UsageError
    from arena.output import BarProgress, print_json
    from arena.services.recording import open_store
    from arena.services.training import TrainRequest, parse_opponents, train

    try:
        sizes = tuple(int(h) for h in hidden.split(","))
        if not all(1 <= h <= 65_536 for h in sizes):  # RLlib would fail on them only once Ray has started
            raise ValueError
    except ValueError:
        raise UsageError(f"--hidden takes layer sizes from 1 to 65536 like 256,256, not {hidden!r}.") from None
    knobs: dict[str, Any] = {"num_env_runners": num_env_runners, "num_envs_per_env_runner": num_envs_per_env_runner,
                             "num_learners": num_learners, "num_gpus_per_learner": num_gpus_per_learner,
                             "address": ray_address}
    request = TrainRequest(env=env, algo=algo, opponents=parse_opponents(opponents) if opponents else {},
                           init=init, data=Path(data) if data else None, epochs=epochs, holdout=holdout,
                           external=external,
                           stop_win_rate=stop_win_rate, stop_return=stop_return,
                           stop_minutes=stop_minutes, stop_iterations=stop_iterations, name=name,
                           snapshot_every=snapshot_every, eval_games=eval_games, hidden=sizes,
                           hyperparameters=_hyperparameters(hyperparameters), seed=seed,
                           resources={k: v for k, v in knobs.items() if v is not None},
                           workers=workers, snapshots=ctx.find_root().obj.settings.snapshots)
    with open_store(db_path, create_on_use=True) as store:
        doc = train(ctx.find_root().obj, store, request, progress=BarProgress())
    if as_json:
        return print_json(doc)
    if "held_out_accuracy" in doc:
        return _render_clone(doc)
    click.echo(f"Stopped ({doc['stop_reason']}) after {doc['iterations']} iterations, {doc['env_steps']:,} env steps, "
               f"{doc['minutes']:.1f} min; illegal actions sampled: {doc['illegal_actions']}.", err=True)
    if "return_ci95" in doc:  # a game with one side: scored by its mean return
        lo, hi = doc["return_ci95"]
        ci = f" (95% CI {lo:.2f} to {hi:.2f})" if lo is not None else ""
        return click.echo(f"Final snapshot: {doc['final']}; mean return {doc['scores']['return']:.2f}{ci} over "
                          f"{doc['eval_games']} games, in {doc['db']} (arena leaderboard --db {doc['db']}).")
    click.echo(f"Final snapshot: {doc['final']}; against "
               + ", ".join(f"{k} {s:.3f}" for k, s in doc["scores"].items())
               + f" over {doc['eval_games']} games each, rated in {doc['db']} (arena leaderboard --db {doc['db']}).")


def _render_clone(doc: dict[str, Any]) -> None:
    held = doc["held_out_accuracy"]
    click.echo(f"Cloned {doc['data']} with {doc['algo']}: {doc['iterations']} iterations, {doc['epochs']:g} epochs "
               f"over {doc['train_moves']:,} moves, {doc['minutes']:.1f} min; held-out accuracy "
               + (f"{held:.3f} over {doc['held_out_moves']:,} moves" if held is not None else "n/a (nothing held out)")
               + f" (training moves {doc['train_accuracy']:.3f}); value MSE {doc['value_mse']}"
               + (f", held out {doc['held_out_value_mse']}" if doc["held_out_value_mse"] is not None else "") + ".",
               err=True)
    scores = doc.get("scores") or {}
    click.echo(f"Snapshot: {doc['final']}"
               + ("; against " + ", ".join(f"{k} {s:.3f}" for k, s in scores.items())
                  + f" over {doc['eval_games']} games each, rated in {doc['db']}" if scores else "")
               + f". Fine-tune it: arena train {doc['env']} --init {doc['final']}"
               + (f" --hp {setting_for(doc.get('features', 0)).replace(' ', '')}." if setting_for(doc.get("features", 0))
                  else "."))


def _hyperparameters(given: tuple[str, ...]) -> dict[str, Any]:
    """--hp key=value options as a dict, values read as on the command line (numbers, true/false, or text)."""
    from arena.errors import ParameterError, UsageError
    from arena.ids import parse_spec

    out: dict[str, Any] = {}
    for text in given:  # key=value, or several joined by commas
        if not all(key.strip() and eq for key, eq, _ in (part.partition("=") for part in text.split(","))):
            raise UsageError(f"--hp {text!r}: write key=value, e.g. --hp lr=0.0005.")
        try:
            out.update(parse_spec(f"hp:{text}")[1])
        except ParameterError:  # a value such as 1e309 or NaN
            raise UsageError(f"--hp {text!r}: a value must be a finite number, true/false or text.") from None
    return out

