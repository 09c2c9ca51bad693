"""`arena tournament` and `arena tournaments`: parse, call the tournament service or the store, render."""
from __future__ import annotations

from typing import Any

import click

from arena.cli.options import (MAX_GAMES, db_option, game_timeout_option, json_option, move_timeout_option,
                               ray_option, seed_option, workers_option)
from arena.cli.match import openings_option
from arena.output import BarProgress, print_json, print_table
from arena.tournament import FORMATS


@click.command("tournament")
@click.argument("env")
@click.argument("players", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="round-robin", show_default=True,
              help="round-robin: everyone meets everyone; gauntlet: the first player meets each other; "
                   "swiss: players with equal points meet, no pairing twice while avoidable.")
@click.option("--rounds", "-r", type=click.IntRange(1, 10_000), default=None,
              help="Rounds (default: 1 for round-robin and gauntlet, each pairing once; ceil(log2 N)+1 for swiss).")
@click.option("--games-per-pair", "-n", type=click.IntRange(1, MAX_GAMES), default=2, show_default=True,
              help="Games each pairing plays per round; seats alternate.")
@click.option("--name", default=None, help="The tournament's name in the store (default: from its settings).")
@click.option("--resume", is_flag=True, help="Continue the stored tournament of this name: play only missing games.")
@seed_option("Tournament seed (default: random, and stored).")
@workers_option()
@ray_option()
@move_timeout_option()
@game_timeout_option()
@openings_option()
@db_option("The Arena store that keeps the tournament, its games and ratings")
@json_option("Print standings, crosstable and payoff as one JSON document.")
@click.pass_context
def tournament_cmd(ctx: click.Context, env: str, players: tuple[str, ...], fmt: str, rounds: int | None,
                   games_per_pair: int, name: str | None, resume: bool, seed: int | None, workers: int,
                   ray_address: str | None, move_timeout: float | None, game_timeout: float | None,
                   openings: str | None, db_path: str, as_json: bool) -> None:
    """Play a tournament of ENV between PLAYERS and print standings, a crosstable and a payoff matrix.

    \b
    Examples:
      arena tournament openspiel/connect_four random connect_four_heuristic mcts:simulations=50 \\
          mcts:simulations=400 --games-per-pair 20 --workers 2
      arena tournament openspiel/connect_four random mcts connect_four_heuristic alphabeta --format swiss
      arena tournament openspiel/connect_four random connect_four_heuristic mcts --openings random:plies=2 -n 8
    Interrupted? Run the same command with --resume: games already stored are not played again.
    """
    from arena.services.recording import open_store
    from arena.services.tournament import TournamentRequest, run_tournament

    request = TournamentRequest(env, players, format=fmt, rounds=rounds, games_per_pair=games_per_pair, name=name,
                                seed=seed, resume=resume, workers=workers, ray_address=ray_address,
                                move_timeout=move_timeout, game_timeout=game_timeout, openings=openings)
    with open_store(db_path, create_on_use=True) as store:
        doc = run_tournament(ctx.find_root().obj, store, request, progress=BarProgress(quiet=as_json))
    if as_json:
        return print_json(doc)
    print_report(doc)


@click.command("tournaments")
@db_option()
@json_option()
def tournaments_cmd(db_path: str, as_json: bool) -> None:
    """List the tournaments in the store: settings, games stored, and whether each finished."""
    from arena.services.recording import open_store
    from arena.store.tournaments import list_tournaments

    with open_store(db_path, readonly=True) as store:
        rows = list_tournaments(store)
    for r in rows:
        r["status"] = "finished" if r["finished_at"] else "unfinished (resume with --resume)"
    if as_json:
        return print_json(rows)
    if not rows:
        click.echo(f"No tournaments in {db_path} yet; start one with `arena tournament ENV P1 P2 ...`.")
        return
    print_table(["Name", "Env", "Format", "Players", "Rounds", "Games/pair", "Games", "Status"],
                [[r["name"], r["env"], r["format"], len(r["players"]), r["rounds"], r["games_per_pair"],
                  r["games"], r["status"]] for r in rows], right=["Players", "Rounds", "Games/pair", "Games"])


def print_report(doc: dict[str, Any]) -> None:
    title = f"{doc['name']}: {doc['format']} of {doc['env']}, {doc['games']} games, seed {doc['seed']}"
    if doc.get("openings"):
        title += f", openings {doc['openings']['spec']}"
    cols = ["#", "Player", "Points", "Games", "W", "D", "L", "Byes", "Score", doc["tiebreak"].title(), "Rating"]
    print_table(cols, [[s["rank"], s["player"], f"{s['points']:g}", s["games"], s["wins"], s["draws"], s["losses"],
                        s["byes"], f"{s['score']:.3f}", f"{s['tiebreak']:g}",
                        "" if s["rating"] is None else f"{s['rating']:.1f}"] for s in doc["standings"]],
                title=title, right=cols[2:])
    names = [s["player"] for s in doc["standings"]]
    short = [str(i) for i in range(1, len(names) + 1)]
    print_table(["#", "Player", *short], [[short[i], a, *[doc["crosstable"][a][b] or ("x" if a == b else "")
                                                        for b in names]] for i, a in enumerate(names)],
                title="Crosstable (points/games of the row player against the column player)", right=short)
    print_table(["#", "Player", *short], [[short[i], a, *[("" if doc["payoff"][a][b] is None else
                                                         f"{doc['payoff'][a][b]:.2f}") for b in names]]
                                        for i, a in enumerate(names)],
                title="Payoff (mean score of the row player against the column player)", right=short)
    if doc["errors"]:
        click.echo(f"{doc['errors']} game(s) failed and were stored as errors; see `arena history`.", err=True)
