"""The `arena` command line. The edge of the system: it turns ArenaErrors into one-line messages and exit codes."""
from __future__ import annotations

import copy
import random
import sys
from typing import Any

import click

from arena.cli_league import league_group
from arena.cli_store import COMMANDS as STORE_COMMANDS
from arena.errors import ArenaError, UsageError
from arena.output import print_json, print_table, stderr_console
from arena.registry import PLURAL, Registry


class ArenaGroup(click.Group):
    """A click group that reports Arena's errors as one line on stderr, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArenaError as e:
            click.secho(f"Error: {e}", fg="red", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def registry(ctx: click.Context) -> Registry:
    return ctx.find_root().obj


@click.group(cls=ArenaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arena")
def cli() -> None:
    """Arena: leagues, ratings and head-to-head matches for multi-agent games.

    Ids look like `openspiel/connect_four` or `pettingzoo/tictactoe_v3`; parameters follow a
    colon: `openspiel/goofspiel:num_cards=5`, `mcts:simulations=400`.
    """


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def plugins_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the loaded plugins, where they come from, their hooks and what they registered."""
    from arena.plugin_manager import plugin_source

    reg = registry(ctx)
    owned: dict[str, dict[str, list[str]]] = {}
    for kind in PLURAL:
        for entry in reg.entries(kind).values():
            owned.setdefault(entry.plugin, {}).setdefault(PLURAL[kind], []).append(entry.id)
    rows = []
    for name, plugin in reg.pm.list_name_plugin():
        hooks = sorted(h.name for h in reg.pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "source": plugin_source(reg.pm, name), "hooks": hooks,
                     "registered": owned.get(name, {})})
    if as_json:
        return print_json(rows)
    print_table(["Plugin", "Source", "Hooks", "Registered"],
                [[r["name"], r["source"], ", ".join(r["hooks"]),
                  ", ".join(f"{len(v)} {k}" for k, v in r["registered"].items())] for r in rows])


def _listing(kind: str):
    def command(ctx: click.Context, as_json: bool) -> None:
        reg = registry(ctx)
        rows = []
        for entry in sorted(reg.entries(kind).values(), key=lambda e: e.id):
            params = _policy_params(entry) if kind == "policy" else {k: v for k, v in entry.params.items()
                                                                      if k != "name"}
            rows.append({"id": entry.id, "plugin": entry.plugin, "description": entry.description,
                         "params": params})
        if as_json:
            return print_json(rows)
        print_table(["Id", "Parameters", "Description", "Plugin"],
                    [[r["id"], ",".join(f"{k}={v}" for k, v in r["params"].items()), r["description"],
                      r["plugin"]] for r in rows])

    command.__doc__ = f"List the registered {PLURAL[kind]}."
    return command


def _policy_params(entry: Any) -> dict[str, Any]:
    from arena.policy import default_params

    return default_params(entry)


for _kind in PLURAL:
    cli.command(PLURAL[_kind])(
        click.option("--json", "as_json", is_flag=True, help="Print JSON.")(click.pass_context(_listing(_kind)))
    )


@cli.command("match")
@click.argument("env")
@click.argument("policies", nargs=-1, required=True)
@click.option("--games", "-n", default=10, show_default=True, type=click.IntRange(min=1), help="Games to play.")
@click.option("--seed", "-s", type=int, default=None, help="Match seed (default: random, and printed).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option("--moves", "record_moves", is_flag=True, help="Record every game's moves (in --json output).")
@click.option("--move-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds a policy may think per move before it forfeits (default: no limit).")
@click.option("--db", "db_path", envvar="ARENA_DB", default=None,
              help="Store every game, with its rating update, in this Arena store (or $ARENA_DB).")
@click.pass_context
def match_cmd(ctx: click.Context, env: str, policies: tuple[str, ...], games: int, seed: int | None,
              as_json: bool, record_moves: bool, move_timeout: float | None, db_path: str | None) -> None:
    """Play GAMES games of ENV between POLICIES (one per seat; seats rotate between games).

    Example: arena match openspiel/connect_four mcts:simulations=200 random --games 50 --db arena.db
    """
    from arena.evaluation import Recorder, open_store
    from arena.match import play_match
    from arena.stats import standings

    reg = registry(ctx)
    seed = random.randrange(2**31) if seed is None else seed
    game = reg.make_game(env)
    if len(policies) != game.info.num_seats:
        raise UsageError(f"{game.info.env_id} has {game.info.num_seats} seat(s); give one policy per seat "
                         f"({len(policies)} given).")
    participants = [reg.make_policy(p) for p in policies]
    for policy in participants:
        policy.check(game.info)
    names = _unique([p.player_id for p in participants])
    store = open_store(db_path) if db_path else None
    recorder = Recorder(store) if store is not None else None
    played = []
    progress = _progress()
    interrupted = False
    with progress:
        task = progress.add_task(f"{game.info.env_id}", total=games)
        try:
            for order, result in play_match(game, participants, games, seed, record_moves=record_moves,
                                            move_timeout=move_timeout):
                played.append((order, result))
                if recorder is not None:
                    recorder.add(result)
                progress.advance(task)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if recorder is not None and store is not None:
                recorder.flush()
                store.close()
    game.close()
    table = standings(names, played)
    single = game.info.num_seats == 1
    doc = {
        "env": game.info.env_id, "seed": seed, "games_requested": games, "games_played": len(played),
        "interrupted": interrupted, "participants": names,
        "stored": {"db": db_path, "new": recorder.new, "already_stored": recorder.already} if recorder else None,
        "errors": [{"game": i, "error": r.error} for i, (_, r) in enumerate(played) if r.error],
        "standings": [s.to_dict(single_seat=single) for s in table],
        "forfeits": [{"game": i, "seat": seat, "player": r.players[seat], "reason": why}
                     for i, (_, r) in enumerate(played) for seat, why in sorted(r.forfeits.items())],
        "results": [r.to_dict() for _, r in played],
    }
    if as_json:
        return print_json(doc)
    _print_standings(doc, single)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = stderr_console()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def _unique(names: list[str]) -> list[str]:
    """Player names made distinct for display when the same spec sits in two seats ("random", "random#2")."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def _fmt_elo(x: float | None, sign_if_none: str) -> str:
    if x is None:
        return f"{sign_if_none}inf"
    return f"{x:+.0f}"


def _print_standings(doc: dict[str, Any], single: bool) -> None:
    title = f"{doc['env']}: {doc['games_played']} games, seed {doc['seed']}"
    if doc["interrupted"]:
        title += f" (interrupted after {doc['games_played']} of {doc['games_requested']})"
    rows = []
    for s in doc["standings"]:
        if single:
            rows.append([s["player"], s["games"], f"{s['mean_return']:.3f}"])
            continue
        lo, hi = s["score_ci95"]
        elo_lo, elo_hi = s["elo_ci95"]
        rows.append([s["player"], s["games"], s["wins"], s["draws"], s["losses"], s["forfeits"],
                     f"{s['score']:.3f}", f"[{lo:.3f}, {hi:.3f}]",
                     _fmt_elo(s["elo"], "+" if s["score"] >= 0.5 else "-"),
                     f"[{_fmt_elo(elo_lo, '-')}, {_fmt_elo(elo_hi, '+')}]"])
    if single:
        print_table(["Player", "Games", "Mean return"], rows, title=title, right=["Games", "Mean return"])
    else:
        cols = ["Player", "Games", "W", "D", "L", "Forfeits", "Score", "Score 95% CI", "Elo", "Elo 95% CI"]
        print_table(cols, rows, title=title, right=cols[1:])
    if doc["stored"]:
        st = doc["stored"]
        click.echo(f"Stored {st['new']} new games in {st['db']}"
                   + (f" ({st['already_stored']} were already there)" if st["already_stored"] else "")
                   + f"; see `arena leaderboard --db {st['db']}`.", err=True)
    for e in doc["errors"][:5]:
        click.echo(f"error: game {e['game']}: {e['error']}", err=True)
    for f in doc["forfeits"][:5]:
        click.echo(f"forfeit: game {f['game']}, seat {f['seat']} ({f['player']}): {f['reason']}", err=True)
    if len(doc["forfeits"]) > 5:
        click.echo(f"... and {len(doc['forfeits']) - 5} more forfeits (see --json).", err=True)


for _command in STORE_COMMANDS:
    cli.add_command(_command)
cli.add_command(league_group)


def build_cli(reg: Registry) -> click.Group:
    """A copy of the CLI with every plugin's register_commands applied (the module's group stays as built in)."""
    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    reg.pm.hook.register_commands(cli=group)
    return group


def main(argv: list[str] | None = None) -> None:
    try:
        reg = Registry()
        command = build_cli(reg)
    except ArenaError as e:
        click.secho(f"Error: {e}", fg="red", err=True)
        sys.exit(e.exit_code)
    command.main(args=argv, obj=reg, prog_name="arena")
