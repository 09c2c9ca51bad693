"""`arena tournament`: round-robin, gauntlet or Swiss between policies, stored, rated and resumable."""
from __future__ import annotations

import contextlib
import hashlib
import json
import random
from typing import Any

import click

from arena.cli_match import progress_bar, ray_option, workers_option
from arena.errors import UsageError
from arena.output import print_json, print_table
from arena.registry import split_version
from arena.settings import DB_ENV_VAR, DEFAULT_DB
from arena.tournament import FORMATS


def default_name(env: str, fmt: str, players: list[str], rounds: int, games: int) -> str:
    digest = hashlib.sha256(json.dumps([env, fmt, players, rounds, games]).encode()).hexdigest()[:6]
    return f"{split_version(env.split('/')[-1].split(':')[0])[0]}-{fmt}-{digest}"


@click.command("tournament")
@click.argument("env")
@click.argument("players", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="round-robin", show_default=True,
              help="round-robin: everyone meets everyone; gauntlet: the first player meets each other; "
                   "swiss: players with equal points meet, no pairing twice while avoidable.")
@click.option("--rounds", "-r", type=click.IntRange(min=1), default=None,
              help="Rounds (default: 1 for round-robin and gauntlet, each pairing once; ceil(log2 N)+1 for swiss).")
@click.option("--games-per-pair", "-n", type=click.IntRange(min=1), default=2, show_default=True,
              help="Games each pairing plays per round; seats alternate.")
@click.option("--name", default=None, help="The tournament's name in the store (default: from its settings).")
@click.option("--resume", is_flag=True, help="Continue the stored tournament of this name: play only missing games.")
@click.option("--seed", "-s", type=int, default=None, help="Tournament seed (default: random, and stored).")
@workers_option
@ray_option
@click.option("--move-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds a policy may think per move before it forfeits (default: no limit).")
@click.option("--db", "db_path", envvar=DB_ENV_VAR, default=DEFAULT_DB, show_default=True,
              help=f"The Arena store that keeps the tournament, its games and ratings (or ${DB_ENV_VAR}).")
@click.option("--json", "as_json", is_flag=True, help="Print standings, crosstable and payoff as one JSON document.")
@click.pass_context
def tournament_cmd(ctx: click.Context, env: str, players: tuple[str, ...], fmt: str, rounds: int | None,
                   games_per_pair: int, name: str | None, resume: bool, seed: int | None, workers: int,
                   ray_address: str | None, move_timeout: float | None, db_path: str, as_json: bool) -> None:
    """Play a tournament of ENV between PLAYERS and print standings, a crosstable and a payoff matrix.

    \b
    Examples:
      arena tournament openspiel/connect_four random connect_four_heuristic mcts:simulations=50 \\
          mcts:simulations=400 --games-per-pair 20 --workers 2
      arena tournament openspiel/connect_four random mcts connect_four_heuristic alphabeta --format swiss
    Interrupted? Run the same command with --resume: games already stored are not played again.
    """
    from arena import tournament as t
    from arena.parallel import PlayOptions
    from arena.services.recording import open_store

    reg = ctx.find_root().obj
    game = reg.make_game(env)
    info = game.info
    game.close()
    ids = [reg.player_id(p) for p in players]
    t.check_spec(fmt, ids, info.num_seats)
    for spec_text in players:
        reg.make_policy(spec_text).check(info)
    rounds = rounds or t.default_rounds(fmt, len(ids))
    name = name or default_name(info.env_id, fmt, ids, rounds, games_per_pair)
    wanted = t.TournamentSpec(name, info.env_id, tuple(ids), fmt, rounds, games_per_pair,
                              random.randrange(2**31) if seed is None else seed)
    store = open_store(db_path)
    try:
        spec = _open(store, wanted, resume, seed is not None, db_path)
        _play(store, spec, workers, ray_address, PlayOptions(move_timeout=move_timeout), db_path, as_json)
        doc = report(store, spec)
    finally:
        store.close()
    if as_json:
        return print_json(doc)
    print_report(doc)


@click.command("tournaments")
@click.option("--db", "db_path", envvar=DB_ENV_VAR, default=DEFAULT_DB, show_default=True,
              help=f"The Arena store (or ${DB_ENV_VAR}).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
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


def _open(store: Any, wanted: Any, resume: bool, seed_given: bool, db_path: str) -> Any:
    from arena import tournament as t
    from arena.store import tournaments as ts

    stored = ts.load(store, wanted.name)
    if stored is None:
        ts.create(store, wanted)
        return wanted
    if not resume:
        raise UsageError(f"Tournament {wanted.name!r} is already in {db_path}. Add --resume to continue it, "
                         "or give another --name for a new one.")
    changed = t.differences(stored, wanted) + ([f"seed {stored.seed} (asked for {wanted.seed})"]
                                               if seed_given and stored.seed != wanted.seed else [])
    if changed:
        raise UsageError(f"Tournament {wanted.name!r} was started with {'; '.join(changed)}. Resume it with its "
                         "own settings, or give another --name.")
    return stored


def _play(store: Any, spec: Any, workers: int, ray_address: str | None, options: Any, db_path: str,
          as_json: bool) -> None:
    from arena import tournament as t
    from arena.services.recording import Recorder
    from arena.store import tournaments as ts

    say = (lambda *_: None) if as_json else (lambda text: click.echo(text, err=True))
    say(f"Tournament {spec.name}: {spec.format}, {len(spec.players)} players, {spec.rounds} round(s), "
        f"{spec.games_per_pair} games per pairing, seed {spec.seed}, store {db_path}")
    done_rounds: list[list[Any]] = []
    with Recorder(store, event=spec.event) as recorder:
        for r in range(1, spec.rounds + 1):
            stored = ts.stored_games(store, spec)
            pairings = ts.stored_pairings(store, spec.name, r)
            if not pairings:
                records, _ = t.tally(spec, done_rounds, stored)
                pairings = t.pair_round(spec, r, records)
                ts.save_pairings(store, spec.name, pairings)
            jobs = t.missing(spec, pairings, stored)
            byes = [p.a for p in pairings if p.b is None]
            if jobs:
                say(f"Round {r}/{spec.rounds}: {len(pairings) - len(byes)} pairings, {len(jobs)} games to play"
                    + (f", bye: {', '.join(byes)}" if byes else ""))
                _run_round(jobs, r, spec, workers, ray_address, options, recorder, say)
            done_rounds.append(pairings)
    ts.finish(store, spec.name)


def _run_round(jobs: list[Any], r: int, spec: Any, workers: int, ray_address: str | None, options: Any,
               recorder: Any, say: Any) -> None:
    from arena.parallel import run_games

    with progress_bar() as progress:
        task = progress.add_task(f"round {r}", total=len(jobs))
        stream = run_games(jobs, workers=workers, ray_address=ray_address, options=options)
        try:
            with contextlib.closing(stream):
                for _, result in stream:
                    recorder.add(result)
                    progress.advance(task)
            recorder.flush()  # the next round's pairings read this one's results from the store
        except KeyboardInterrupt:
            recorder.flush()
            say(f"Interrupted in round {r}; games played so far are stored. Run the same command with --resume "
                f"(--name {spec.name}) to continue.")
            raise


def report(store: Any, spec: Any) -> dict[str, Any]:
    """Standings, crosstable and payoff of a tournament, all from its stored games."""
    from arena import tournament as t
    from arena.ratings import conservative
    from arena.store import tournaments as ts

    rounds = [ts.stored_pairings(store, spec.name, r) for r in range(1, spec.rounds + 1)]
    stored = ts.stored_games(store, spec)
    records, h2h = t.tally(spec, rounds, stored)
    order = t.ranking(records, spec.players)
    ratings = ts.skills(store, spec.env, spec.players)
    names = [r.player for r in order]
    standings = []
    for rank, r in enumerate(order, 1):
        rating = ratings.get(r.player)
        standings.append({"rank": rank, "player": r.player, "points": r.points, "games": r.games, "wins": r.wins,
                          "draws": r.draws, "losses": r.losses, "byes": r.byes, "score": round(r.score, 4),
                          "tiebreak": round(r.tiebreak, 3),
                          "rating": round(conservative(rating), 2) if rating else None})
    crosstable = {a: {b: (f"{h2h[(a, b)][0]:g}/{int(h2h[(a, b)][1])}" if (a, b) in h2h else None) for b in names}
                  for a in names}
    payoff = {a: {b: (round(h2h[(a, b)][0] / h2h[(a, b)][1], 4) if (a, b) in h2h and h2h[(a, b)][1] else None)
                  for b in names} for a in names}
    errors = sum(1 for v in stored.values() if v is None)
    return {"name": spec.name, "env": spec.env, "format": spec.format, "rounds": spec.rounds,
            "games_per_pair": spec.games_per_pair, "seed": spec.seed, "games": len(stored), "errors": errors,
            "tiebreak": "buchholz" if spec.format == "swiss" else "sonneborn-berger",
            "standings": standings, "crosstable": crosstable, "payoff": payoff,
            "pairings": [[{"a": p.a, "b": p.b} for p in rnd] for rnd in rounds]}


def print_report(doc: dict[str, Any]) -> None:
    title = f"{doc['name']}: {doc['format']} of {doc['env']}, {doc['games']} games, seed {doc['seed']}"
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
