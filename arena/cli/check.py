"""`arena check ENV [POLICY...]`: the conformance checks of arena.testing on a game and policies, for plugin authors."""
from __future__ import annotations

import click

from arena.errors import ArenaError, UsageError
from arena.output import print_json
from arena.registry import Registry
from arena.testing import OPPONENT, Report, check_all

_MARK = {"passed": ("PASS", "green"), "failed": ("FAIL", "red"), "declined": ("SKIP", "yellow"),
         "skipped": ("SKIP", "yellow")}


@click.command("check")
@click.argument("env")
@click.argument("policies", nargs=-1, metavar="[POLICY]...")
@click.option("--games", "-n", type=click.IntRange(1, 100_000), default=2, show_default=True,
              help="Random games the game check plays, and games per seat for each policy.")
@click.option("--seed", "-s", type=int, default=0, show_default=True, help="First game seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of lines.")
@click.pass_context
def check_cmd(ctx: click.Context, env: str, policies: tuple[str, ...], games: int, seed: int,
              as_json: bool) -> None:
    """Check that the game ENV, and each POLICY on it, keep Arena's contracts.

    The game plays random games to the end with every step checked (seats to move, legal actions, action mask,
    observation space, returns and ranks), replays a seed, and passes PettingZoo's own api_test when it is a
    PettingZoo env. Each POLICY (default: random) plays in every seat beside random players with only legal moves
    and replays its game from the seed, or declines the game in one line. One line per failure.

    Exit status: 0 when every check passes, 1 when one fails, 2 for an unknown id or a bad parameter.
    """
    reg = ctx.find_root().obj
    if not isinstance(reg, Registry):
        reg = Registry()
    try:  # an unknown id or a bad parameter is the user's (exit 2); a game that fails to build is a check failure
        reg.make_game(env).close()
    except UsageError:
        raise
    except ArenaError:
        pass
    wanted = list(policies) or [OPPONENT]
    reports = check_all(reg, env, wanted, games=games, seed=seed, on_report=None if as_json else _print_report)
    failed = [r for r in reports if r.status == "failed"]
    if as_json:
        print_json({"env": env, "games": games, "seed": seed, "passed": not failed,
                    "reports": [r.to_dict() for r in reports],
                    "failures": [f.to_dict() for r in reports for f in r.failures]})
    else:
        counts = {status: sum(r.status == status for r in reports) for status in _MARK}
        problems = sum(len(r.failures) for r in reports)
        click.echo(", ".join(f"{n} {status}" for status, n in counts.items() if n)
                   + (f"; {problems} problem{'s' * (problems != 1)}." if problems else "."))
    if failed:
        ctx.exit(1)


def _print_report(report: Report) -> None:
    mark, colour = _MARK[report.status]
    what = f"{report.kind:<6} {report.subject}"
    reason = " ".join((report.reason or "").split())  # one line, whatever the plugin wrote
    if report.failures:
        n = len(report.failures)
        detail = f": {n} problem{'s' * (n != 1)}" + (f" (it declines the game: {reason})" if reason else "")
    elif reason:
        detail = f": {reason}"
    else:
        detail = f" ({', '.join(report.checks)})"
    click.echo(f"{click.style(mark, fg=colour, bold=True)}  {what}{detail}")
    for failure in report.failures:
        click.echo(f"      {failure}")
