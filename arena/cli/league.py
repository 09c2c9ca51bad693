"""`arena league validate|run|status|list`: leagues defined in TOML files, run, resumed and inspected."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from arena.cli.options import db_option, output_options, ray_option
from arena.services.recording import open_store
from arena.output import emit, print_json
from arena.services.leagues import league_status


@click.group("league")
def league_group() -> None:
    """Leagues: learners improving against a growing, rated pool, defined in leagues/*.toml."""


@league_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def validate_cmd(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Check league FILES without running anything; every problem is one line FILE: KEY: what is wrong."""
    from arena.config import LeagueConfigError, load

    bad = 0
    for path in files:
        try:
            league = load(path, ctx.find_root().obj)
        except LeagueConfigError as e:
            bad += 1
            for line in e.problems:
                click.echo(line, err=True)
            continue
        roles = ", ".join(f"{x.name} ({x.algo}, {x.role})" for x in league.learners)
        click.echo(f"{path}: ok: league {league.name} on {league.env}; learners {roles}; "
                   f"{len(league.fixed)} fixed players")
    if bad:
        sys.exit(2)


@league_group.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resume", is_flag=True, help="Continue the league from the store and the learners' checkpoints.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True,
              help="Where learner checkpoints go (RUN_DIR/NAME/checkpoints).")
@ray_option("Train the learners and play the evaluation games on this Ray cluster (HOST:PORT of its head, or "
            "'auto'); wins over the file's [resources] ray_address")
@db_option()
@click.pass_context
def run_cmd(ctx: click.Context, file: Path, resume: bool, run_dir: Path, ray_address: str | None,
            db_path: str) -> None:
    """Run the league in FILE round after round until a stop rule fires; Ctrl-C stops after the current round.

    Example: arena league run leagues/connect_four.toml
    """
    from arena.config import LeagueConfigError, load
    from arena.services.scheduler import Scheduler

    reg = ctx.find_root().obj
    try:
        league = load(file, reg)
    except LeagueConfigError as e:
        for line in e.problems:
            click.echo(line, err=True)
        sys.exit(2)
    learners = ", ".join(f"{x.name} ({x.algo}, {x.role})" for x in league.learners)
    click.echo(f"League {league.name} on {league.env}: learners {learners}; fixed: {', '.join(league.fixed) or '-'}; "
               f"store {db_path}. Ctrl-C stops after the current round.", err=True)
    with open_store(db_path) as store:
        reason = Scheduler(league, store, reg, run_dir=run_dir, resume=resume, ray_address=ray_address,
                           echo=lambda line: click.echo(line, err=True)).run()
        rows = league_status(store, league.name)
    verb = "Interrupted" if reason == "interrupted" else "Finished"
    click.echo(f"{verb} ({reason}) after round {rows['rounds']}, {rows['elapsed_min']:.1f} min"
               + (f"; continue with: arena league run {file} --resume" if reason == "interrupted" else "") + ".",
               err=True)
    _print_status(rows)


def _print_status(doc: dict[str, Any], fmt: str = "table") -> None:
    if fmt == "json":
        return print_json(doc)
    click.echo(f"League {doc['league']} ({doc['env']}): {doc['status']}"
               + (f" ({doc['stop_reason']})" if doc["stop_reason"] else "")
               + f"; {doc['rounds']} rounds done" + (", one more trained and in evaluation" if doc["in_progress"] else "")
               + f"; {doc['elapsed_min']:.1f} min; {doc['matches']} evaluation games stored.")
    by = "mean_return" if any(m.get("mean_return") is not None for m in doc["members"]) else "rating"
    rows = sorted(doc["members"], key=lambda m: -(m[by] if m[by] is not None else -1e9))
    columns = [("member", lambda m: m["id"]), ("kind", lambda m: m["kind"]), ("role", lambda m: m["role"] or ""),
               ("plays as", lambda m: m["plays_as"] or "-"), ("iteration", lambda m: m["iteration"] or ""),
               (by.replace("_", " "), lambda m: "" if m[by] is None else f"{m[by]:.{3 if by == 'mean_return' else 1}f}"),
               ("games", lambda m: m["games"])]
    if doc.get("exploitability"):  # [evaluation] exploitability: each copy's, as computed in its round
        columns.append(("exploitability", lambda m: "" if m.get("exploitability") is None
                        else f"{m['exploitability']:.4f}"))
    emit(rows, columns, fmt, title="Pool", right=("iteration", by.replace("_", " "), "games", "exploitability"))


@league_group.command("status")
@click.argument("name")
@output_options
@db_option()
def status_cmd(name: str, fmt: str, db_path: str) -> None:
    """Where league NAME stands: rounds, time, the pool with ratings, the last round's scores."""
    from arena.services.leagues import stop_leftovers

    with open_store(db_path, readonly=True) as store:
        doc = league_status(store, name)
        run, stopped = stop_leftovers(store, name)
    if stopped:
        click.echo(f"Stopped {len(stopped)} processes left running by the killed run of league {name} (process "
                   f"{run['pid']}): " + ", ".join(f"{n} {pid}" for pid, _, n in stopped) + ".", err=True)  # type: ignore[index]
    if fmt == "csv":
        fmt = "table"
    _print_status(doc, fmt)
    if fmt == "table" and doc["last_round"].get("evaluation"):
        for learner, scores in doc["last_round"]["evaluation"].items():
            click.echo(f"last evaluation, {learner}: " + "  ".join(f"{o} {s:.2f}" for o, s in scores.items()))
    if fmt == "table" and doc.get("exploitability"):
        learners = sorted({k for r in doc["exploitability"] for k in r if k != "round"})
        for learner in learners:
            curve = [(r["round"], r[learner]) for r in doc["exploitability"] if learner in r]
            click.echo(f"exploitability of {learner} by round: " + ", ".join(f"r{n} {e:.3f}" for n, e in curve[-12:]))
            average = [(r["round"], r[learner]) for r in doc.get("exploitability_average", []) if learner in r]
            if average:
                click.echo(f"  of the average of its copies so far: "
                           + ", ".join(f"r{n} {e:.3f}" for n, e in average[-12:]))


@league_group.command("list")
@output_options
@db_option()
def list_cmd(fmt: str, db_path: str) -> None:
    """Leagues in the store."""
    from arena.store import leagues as state

    with open_store(db_path, readonly=True) as store:
        rows = [league_status(store, name) for name in state.names(store)]
    for r in rows:
        r.pop("members"), r.pop("last_round")
    emit(rows, [("league", lambda r: r["league"]), ("env", lambda r: r["env"]), ("status", lambda r: r["status"]),
                ("rounds", lambda r: r["rounds"]), ("minutes", lambda r: f"{r['elapsed_min']:.1f}"),
                ("matches", lambda r: r["matches"])], fmt, title="Leagues", right=("rounds", "minutes", "matches"))
