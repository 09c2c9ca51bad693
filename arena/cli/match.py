"""`arena match`: parse the options, call the head-to-head service, render its standings."""
from __future__ import annotations

import contextlib
from typing import Any

import click

from arena.cli.options import (MAX_GAMES, db_option, game_timeout_option, json_option, move_timeout_option,
                               ray_option, seed_option, workers_option)
from arena.output import BarProgress, print_json, print_table


def openings_option() -> Any:
    """--openings SPEC, shared by `arena match` and `arena tournament`."""
    return click.option("--openings", "openings", default=None, metavar="random:plies=K|FILE",
                        help="Start game pairs from openings, seats swapped: K random legal plies drawn from the seed, "
                             "or one move sequence per line of FILE (action strings or numbers). Games 2k and 2k+1 "
                             "share opening k. Turn-based games without chance or hidden information only.")


@click.command("match")
@click.argument("env")
@click.argument("policies", nargs=-1, required=True)
@click.option("--games", "-n", type=click.IntRange(1, MAX_GAMES), default=None,
              help="Games to play (default 10; with --sprt, the most it may play: 20000).")
@seed_option("Match seed (default: random, and printed).")
@click.option("--sprt", "sprt_text", default=None, metavar="elo0=E0,elo1=E1[,alpha=A,beta=B]",
              help="Stop as soon as a sequential probability ratio test decides between Elo E0 and E1 (two players).")
@workers_option()
@ray_option()
@json_option("Print one JSON document instead of a table.")
@click.option("--moves", "record_moves", is_flag=True, help="Record every game's moves (in --json output).")
@move_timeout_option()
@game_timeout_option()
@openings_option()
@db_option("Store every game, with its rating update, in this Arena store", optional=True)
@click.pass_context
def match_cmd(ctx: click.Context, env: str, policies: tuple[str, ...], games: int | None, seed: int | None,
              sprt_text: str | None, workers: int, ray_address: str | None, as_json: bool, record_moves: bool,
              move_timeout: float | None, game_timeout: float | None, openings: str | None,
              db_path: str | None) -> None:
    """Play GAMES games of ENV between POLICIES (one per seat; seats rotate between games).

    \b
    Examples:
      arena match openspiel/connect_four mcts:simulations=200 random --games 50 --db arena.db
      arena match openspiel/connect_four mcts:simulations=400 mcts:simulations=50 --sprt elo0=0,elo1=20 -j 2
      arena match openspiel/connect_four mcts connect_four_heuristic -n 40 --openings random:plies=4
    """
    from arena.services.headtohead import HeadToHead, head_to_head
    from arena.services.recording import open_store
    from arena.sprt import SprtSpec

    request = HeadToHead(env, policies, games=games, seed=seed, sprt=SprtSpec.parse(sprt_text) if sprt_text else None,
                         workers=workers, ray_address=ray_address, record_moves=record_moves,
                         move_timeout=move_timeout, game_timeout=game_timeout, openings=openings)
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(open_store(db_path, create_on_use=True)) if db_path else None
        doc = head_to_head(ctx.find_root().obj, request, store=store, progress=BarProgress())
    if as_json:
        return print_json(doc)
    print_standings(doc, single=any("mean_return" in s for s in doc["standings"]))


def _fmt_elo(x: float | None, sign_if_none: str) -> str:
    if x is None:
        return f"{sign_if_none}inf"
    return f"{x:+.0f}"


def print_standings(doc: dict[str, Any], single: bool) -> None:
    failed = doc["games_failed"]
    title = f"{doc['env']}: {doc['games_played']} games" + (f" ({failed} failed)" if failed else "") + \
        f", seed {doc['seed']}"
    if doc.get("openings"):
        title += f", openings {doc['openings']['spec']}"
    if doc["interrupted"]:
        title += f" (interrupted after {doc['games_played']} of {doc['games_requested']})"
    rows = []
    for s in doc["standings"]:
        if single:
            lo, hi = s["return_ci95"]
            rows.append([s["player"], s["games"], s["forfeits"], f"{s['mean_return']:.3f}",
                         "" if lo is None else f"[{lo:.3f}, {hi:.3f}]"])
            continue
        lo, hi = s["score_ci95"]
        elo_lo, elo_hi = s["elo_ci95"]
        rows.append([s["player"], s["games"], s["wins"], s["draws"], s["losses"], s["forfeits"],
                     f"{s['score']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
                     _fmt_elo(s["elo"], "+" if s["score"] >= 0.5 else "-"),
                     f"[{_fmt_elo(elo_lo, '-')}, {_fmt_elo(elo_hi, '+')}]"])
    if single:
        print_table(["Player", "Games", "Forfeits", "Mean return", "95% CI"], rows, title=title,
                    right=["Games", "Forfeits", "Mean return"])
    else:
        cols = ["Player", "Games", "W", "D", "L", "Forfeits", "Score", "Score 95% CI", "Elo", "Elo 95% CI"]
        print_table(cols, rows, title=title, right=cols[1:])
    if doc["sprt"]:
        click.echo(sprt_line(doc["sprt"], doc["participants"]))
    if doc.get("nodes"):
        click.echo(nodes_line(doc["nodes"], doc["replayed"]))
    if doc["stored"]:
        st = doc["stored"]
        click.echo(f"Stored {st['new']} new games in {st['db']}"
                   + (f" ({st['already_stored']} were already there)" if st["already_stored"] else "")
                   + (f"; {st['replays_not_rated']} replayed an earlier game move for move and were not rated again"
                      if st["replays_not_rated"] else "")
                   + f"; see `arena leaderboard --db {st['db']}`.", err=True)
    for e in doc["errors"][:5]:
        click.echo(f"error: game {e['game']}: {e['error']}", err=True)
    if failed:
        more = f"; the first {min(failed, 5)} are above" + (", all in --json" if failed > 5 else "")
        click.echo(f"{failed} of {doc['games_played']} games failed and count in no standing "
                   f"(stored as errors with --db){more}.", err=True)
    for f in doc["forfeits"][:5]:
        click.echo(f"forfeit: game {f['game']}, seat {f['seat']} ({f['player']}): {f['reason']}", err=True)
    if len(doc["forfeits"]) > 5:
        click.echo(f"... and {len(doc['forfeits']) - 5} more forfeits (see --json).", err=True)


def nodes_line(nodes: dict[str, int], replayed: list[dict[str, Any]]) -> str:
    """Where a match played on Ray ran: "Played on 2 Ray nodes: 10.0.0.5 120 games, 10.0.0.6 80 games"."""
    line = f"Played on {len(nodes)} Ray node{'s' if len(nodes) != 1 else ''}: " + \
        ", ".join(f"{node} {games} game{'s' if games != 1 else ''}" for node, games in nodes.items())
    if replayed:
        line += f"; {len(replayed)} played again after their Ray worker or node was lost"
    return line + "."


def sprt_line(s: dict[str, Any], names: list[str]) -> str:
    verdict = {"H1": f"H1 accepted: {names[0]} is at least {s['elo1']:+g} Elo against {names[1]}",
               "H0": f"H0 accepted: {names[0]} is at most {s['elo0']:+g} Elo against {names[1]}",
               None: "no decision yet: play more games (raise --games) or widen elo0..elo1"}[s["decision"]]
    elo, (lo, hi) = s["elo"], s["elo_ci95"]
    return (f"SPRT {s['spec']}: LLR {s['llr']:.2f} in [{s['lower']:.2f}, {s['upper']:.2f}] after {s['games']} games "
            f"({s['pairs']} pairs, pentanomial {s['pentanomial']}); Elo {elo:+.1f} [{lo:+.1f}, {hi:+.1f}]. {verdict}.")
