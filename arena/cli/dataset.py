"""`arena dataset generate|export|info`: parse the options, call the dataset service, render its summary."""
from __future__ import annotations

from typing import Any

import click

from arena.cli.match import openings_option
from arena.cli.options import MAX_GAMES, db_option, json_option, move_timeout_option, seed_option, workers_option
from arena.output import BarProgress, print_json, print_table


@click.group("dataset")
def dataset_group() -> None:
    """Offline data: play games worth imitating, export stored games as RLlib offline data (Parquet).

    \b
    arena dataset generate openspiel/connect_four --players mcts:simulations=400,connect_four_heuristic \\
        --games 500 -j 2 --openings random:plies=4 --db arena.db
    arena dataset export --db arena.db --env openspiel/connect_four --out data/c4
    arena train openspiel/connect_four --algo bc --data data/c4
    """


@dataset_group.command("generate")
@click.argument("env")
@click.option("--players", required=True, help="Comma-separated policies; every pair plays, seats swapped: "
                                               "mcts:simulations=400,connect_four_heuristic.")
@click.option("--games", "-n", type=click.IntRange(1, MAX_GAMES), required=True, help="Games per pair of players.")
@workers_option("Games in parallel (worker processes).")
@seed_option("Seed of the games (default: random, and printed); the same seed stores the same games.")
@openings_option()
@move_timeout_option()
@db_option("The Arena store the games (with their moves) go to")
@json_option("Print the summary as JSON.")
@click.pass_context
def generate_cmd(ctx: click.Context, env: str, players: str, games: int, workers: int, seed: int | None,
                 openings: str | None, move_timeout: float | None, db_path: str, as_json: bool) -> None:
    """Play and store GAMES games of ENV for every pair of --players, with their moves, ready to export."""
    from arena.services.dataset import generate
    from arena.services.recording import open_store
    from arena.services.training import split_specs

    with open_store(db_path, create_on_use=True) as store:
        doc = generate(ctx.find_root().obj, store, env=env, players=split_specs(players), games=games,
                       workers=workers, seed=seed, openings=openings, move_timeout=move_timeout,
                       progress=BarProgress(quiet=as_json))
    if as_json:
        return print_json(doc)
    print_table(["Players", "Games", "New", "Already stored", "Score (first)", "Errors", "Forfeits"],
                [[" vs ".join(p["players"]), p["games"], p["stored_new"], p["already_stored"], f"{p['score']:.3f}",
                  p["errors"], p["forfeits"]] for p in doc["pairs"]],
                title=f"{doc['env']}: {doc['games']} games, seed {doc['seed']}, {doc['seconds']:.1f} s",
                right=["Games", "New", "Already stored", "Score (first)", "Errors", "Forfeits"])
    click.echo(f"Stored {doc['stored_new']} new games in {doc['db']}; export them with `arena dataset export "
               f"--db {doc['db']} --env {doc['env']} --out DIR`.", err=True)


@dataset_group.command("export")
@click.option("--env", required=True, help="The game whose stored games to export (a stored env id).")
@click.option("--out", "out", required=True, type=click.Path(), help="Folder for the Parquet files.")
@click.option("--players", default=None, help="Only the moves of these players (comma-separated; default: all).")
@click.option("--league", default=None, help="Only the games of this league.")
@click.option("--overwrite", is_flag=True, help="Replace a dataset already in --out.")
@click.option("--teacher", default=None, metavar="POLICY",
              help="Label every position with this policy's move probabilities (mcts: its visit counts), which "
                   "behaviour cloning then imitates (column action_probs).")
@click.option("--lookahead", type=click.Choice(["1", "3"]), is_flag=False, flag_value="1", default=None,
              metavar="[1|3]",
              help="Features with the tactical lookahead, as learners with that setting see them: --lookahead "
                   "(or 1) the one-ply flags (encoding 3, lookahead = true); --lookahead 3 also the threats within "
                   "three plies (encoding 4, lookahead = 3).")
@click.option("-j", "--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes exporting (and labelling) the folds.")
@db_option("The Arena store to read")
@json_option("Print the summary as JSON.")
@click.pass_context
def export_cmd(ctx: click.Context, env: str, out: str, players: str | None, league: str | None, overwrite: bool,
               teacher: str | None, lookahead: str | None, workers: int, db_path: str, as_json: bool) -> None:
    """Write the stored games of --env as RLlib offline data (Parquet, one episode per game and seat)."""
    from arena.services.dataset import export
    from arena.services.recording import open_store
    from arena.services.training import split_specs

    with open_store(db_path, readonly=True) as store:
        doc = export(ctx.find_root().obj, store, env=env, out=out, players=split_specs(players) if players else None,
                     league=league, overwrite=overwrite, lookahead=int(lookahead or 0), teacher=teacher, workers=workers,
                     progress=BarProgress(quiet=as_json))
    if as_json:
        return print_json(doc)
    skipped = {k: doc[k] for k in ("no_moves", "replays", "unreplayable") if doc[k]}
    click.echo(f"Wrote {doc['rows']:,} moves ({doc['episodes']:,} episodes) of {doc['games']:,} games of "
               f"{doc['env']} to {doc['out']} in {doc['seconds']:.1f} s ({doc['rows_per_s'] or 0:,.0f} moves/s)"
               + (f", labelled by {doc['teacher']}." if doc.get("teacher") else "."))
    if skipped:
        names = {"no_moves": "stored without moves", "replays": "replays of an earlier game",
                 "unreplayable": "did not replay"}
        click.echo("Skipped: " + ", ".join(f"{n} {names[k]}" for k, n in skipped.items())
                   + "".join(f" ({why}: {n})" for why, n in doc["unreplayable_reasons"].items()) + ".", err=True)
    if not doc["rows"]:
        click.echo("No moves were written: store games with their moves (`arena dataset generate`, or "
                   "`arena match ... --moves --db`).", err=True)


@dataset_group.command("info")
@click.argument("folder", type=click.Path())
@json_option("Print JSON.")
def info_cmd(folder: str, as_json: bool) -> None:
    """What a dataset folder holds: its game, sizes, files and players."""
    from arena.services.cloning import read

    data = read(folder)
    doc: dict[str, Any] = {"path": str(data.path), "env": data.env, "obs_dim": data.obs_dim,
                           "num_actions": data.num_actions, "features": data.features, "teacher": data.teacher,
                           "rows": sum(data.rows),
                           "files": [{"file": f.name, "fold": k, "rows": r}
                                     for f, k, r in zip(data.files, data.folds, data.rows)],
                           "rows_by_player": dict(data.players)}
    if as_json:
        return print_json(doc)
    click.echo(f"{doc['path']}: {doc['env']}, {doc['rows']:,} moves in {len(doc['files'])} files; "
               f"{doc['obs_dim']} features, {doc['num_actions']} actions, feature encoding {doc['features']}"
               + (f"; labelled by {doc['teacher']}." if doc.get("teacher") else "."))
    if doc["rows_by_player"]:
        print_table(["Player", "Moves"], sorted(doc["rows_by_player"].items(), key=lambda kv: -kv[1]),
                    right=["Moves"])
