"""The `arena` command line. The edge of the system: it turns ArenaErrors into one-line messages and exit codes."""
from __future__ import annotations

import copy
import sys
from typing import Any

import click

from arena.cli.check import check_cmd
from arena.cli.dataset import dataset_group
from arena.cli.exploitability import exploitability_cmd
from arena.cli.league import league_group
from arena.cli.match import match_cmd
from arena.cli.serve import serve_cmd
from arena.cli.train import train_cmd
from arena.cli.tournament import tournament_cmd, tournaments_cmd
from arena.cli.store import COMMANDS as STORE_COMMANDS
from arena.errors import ArenaError
from arena.output import print_json, print_table
from arena.registry import PLURAL, Registry
from arena.settings import Settings


class ArenaGroup(click.Group):
    """A click group that reports Arena's errors as one line on stderr, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArenaError as e:
            click.secho(f"Error: {one_line(e)}", fg="red", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def one_line(error: ArenaError) -> str:
    """The error's message on one line (a plugin or library may put line breaks in what Arena wraps); an error that
    lists several problems (a league file's) keeps one line per problem."""
    if getattr(error, "problems", None):
        return "\n".join(error.problems)  # type: ignore[attr-defined]
    return " ".join(str(error).split())


def registry(ctx: click.Context) -> Registry:
    return ctx.find_root().obj


@click.group(cls=ArenaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arena")
@click.option("-v", "--verbose", is_flag=True,
              help="Also show Ray's and RLlib's own notices and warnings (hidden by default; or $ARENA_VERBOSE=1).")
def cli(verbose: bool) -> None:
    """Arena: leagues, ratings and head-to-head matches for multi-agent games.

    Ids look like `openspiel/connect_four` or `pettingzoo/tictactoe_v3`; parameters follow a
    colon: `openspiel/goofspiel:num_cards=5`, `mcts:simulations=400`.
    """
    from arena.logs import quiet

    quiet(verbose)


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
                         "params": params, **(_seats(reg, entry.id) if kind == "env" else {})})
        if as_json:
            return print_json(rows)
        seats = [("Seats", lambda r: _seat_text(r))] if kind == "env" else []
        print_table(["Id", *[h for h, _ in seats], "Parameters", "Description", "Plugin"],
                    [[r["id"], *[show(r) for _, show in seats], ",".join(f"{k}={v}" for k, v in r["params"].items()),
                      r["description"], r["plugin"]] for r in rows])

    command.__doc__ = f"List the registered {PLURAL[kind]}."
    return command


def _seats(reg: Any, env_id: str) -> dict[str, Any]:
    """An env's seats and teams ({team: [seat names]}), from building it once; None where it cannot be built
    (a `namespace/*` pattern, or an env whose library is missing)."""
    if "*" in env_id:
        return {"seats": None, "teams": None}
    try:
        game = reg.make_game(env_id)
    except Exception:  # a listing still lists what it cannot build
        return {"seats": None, "teams": None}
    info = game.info
    game.close()
    return {"seats": info.num_seats, "teams": {name: [info.seat_names[s] for s in team]
                                               for name, team in zip(info.team_names, info.teams)} or None}


def _seat_text(row: dict[str, Any]) -> str:
    """'4: adversaries x3 vs good x1', '3: one team', '2'."""
    if row["seats"] is None:
        return ""
    teams = row["teams"]
    if not teams:
        return str(row["seats"])
    if len(teams) == 1:
        return f"{row['seats']}: one team"
    return f"{row['seats']}: " + " vs ".join(f"{name} x{len(members)}" for name, members in teams.items())


def _policy_params(entry: Any) -> dict[str, Any]:
    from arena.policy import default_params

    return default_params(entry)


for _kind in PLURAL:
    cli.command(PLURAL[_kind])(
        click.option("--json", "as_json", is_flag=True, help="Print JSON.")(click.pass_context(_listing(_kind)))
    )


for _command in STORE_COMMANDS:
    cli.add_command(_command)
cli.add_command(check_cmd)
cli.add_command(dataset_group)
cli.add_command(exploitability_cmd)
cli.add_command(league_group)
cli.add_command(match_cmd)
cli.add_command(serve_cmd)
cli.add_command(train_cmd)
cli.add_command(tournament_cmd)
cli.add_command(tournaments_cmd)


def build_cli(reg: Registry) -> click.Group:
    """A copy of the CLI with every plugin's register_commands applied (the module's group stays as built in)."""
    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    reg.pm.hook.register_commands(cli=group)
    return group


def main(argv: list[str] | None = None) -> None:
    from arena import signals

    signals.install()  # SIGTERM stops every command as Ctrl-C does
    try:
        reg = Registry(settings=Settings.from_environment())  # read once; commands reach it as reg.settings
        command = build_cli(reg)
    except ArenaError as e:
        click.secho(f"Error: {one_line(e)}", fg="red", err=True)
        sys.exit(e.exit_code)
    command.main(args=argv, obj=reg, prog_name="arena")
