"""Options that several commands share, defined once: --db, --json/--csv, --workers, --seed, --ray-address."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

from arena.settings import DB_ENV_VAR, DEFAULT_DB

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
# Upper bounds that keep a typo from exhausting the machine (a list of 10**12 games, 10**9 worker processes);
# docs/guarantees.md lists them. Raise one here where needed.
MAX_GAMES = 10_000_000
MAX_WORKERS = 1_024


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange without nan and inf: NaN compares false with both bounds, so FloatRange lets it through."""

    name = "float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def db_option(help: str = "The Arena store", *, optional: bool = False) -> Decorator:
    """--db PATH (or $ARENA_DB). Optional: no default, and the command stores nothing without it."""
    return click.option("--db", "db_path", envvar=DB_ENV_VAR, default=None if optional else DEFAULT_DB,
                        show_default=not optional, help=f"{help} (or ${DB_ENV_VAR}).")


def json_option(help: str = "Print JSON.") -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


def workers_option(help: str = "Games in parallel: worker processes here, or Ray actors with --ray-address "
                               "(1 with Ray: one per CPU).") -> Decorator:
    return click.option("--workers", "-j", type=click.IntRange(1, MAX_WORKERS), default=1, show_default=True,
                        help=help)


SEED_MAX = 2**63 - 1  # what SQLite's INTEGER holds (a tournament's seed is stored); RLlib wants 32 bits (train)


def seed_option(help: str = "Seed (default: random, and printed).", default: int | None = None,
                max: int = SEED_MAX) -> Decorator:
    return click.option("--seed", "-s", type=click.IntRange(0, max), default=default, show_default=default is not None,
                        help=help)


RAY_ADDRESS_ENV_VAR = "ARENA_RAY_ADDRESS"


def ray_option(help: str = "Play on Ray actors: a cluster address (HOST:PORT of its head), 'auto' for the one "
                           "started on this machine, or 'local' for a Ray here") -> Decorator:
    return click.option("--ray-address", envvar=RAY_ADDRESS_ENV_VAR, default=None,
                        help=f"{help} (or ${RAY_ADDRESS_ENV_VAR}).")


def move_timeout_option() -> Decorator:
    return click.option("--move-timeout", type=FiniteFloatRange(min=0, min_open=True), default=None,
                        help="Seconds a policy may think per move before it forfeits (default: no limit; a remote "
                             "agent gets 10).")


def game_timeout_option() -> Decorator:
    return click.option("--game-timeout", type=FiniteFloatRange(min=0, min_open=True), default=None,
                        help="Seconds a policy may think over a whole game before it forfeits (a chess clock; "
                             "default: no limit).")


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--json or --csv (raw values) instead of the default table."""
    fn = click.option("--csv", "fmt", flag_value="csv", help="Print CSV.")(fn)
    fn = click.option("--json", "fmt", flag_value="json", help="Print JSON.")(fn)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(fn)
