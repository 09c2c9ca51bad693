"""Terminal output: rich tables on a terminal, plain tab-separated lines in a pipe, JSON on request."""
from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from arena.services.progress import Progress


def stdout_console() -> Console:
    return Console(soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=_jsonable, allow_nan=False) + "\n")


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return str(obj)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
                right: Sequence[str] = ()) -> None:
    """A rich table when stdout is a terminal; a header line and tab-separated rows otherwise."""
    console = stdout_console()
    if not console.is_terminal:
        if title:
            sys.stdout.write(f"# {title}\n")
        sys.stdout.write("\t".join(columns) + "\n")
        for row in rows:
            sys.stdout.write("\t".join("" if v is None else str(v) for v in row) + "\n")
        return
    table = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, Callable[[dict[str, Any]], Any]]], fmt: str,
         title: str | None = None, right: Sequence[str] = ()) -> None:
    """Rows as JSON or CSV (raw values, every key), or as a table of (header, format(row)) columns."""
    if fmt == "json":
        return print_json(list(rows))
    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [h for h, _ in columns],
                                extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return None
    print_table([h for h, _ in columns], [[show(row) for _, show in columns] for row in rows], title=title,
                right=right)
    return None


def field(key: str, spec: str = "") -> Callable[[dict[str, Any]], str]:
    """A column formatter: row[key] formatted with spec, blank when missing."""
    return lambda row: "" if row.get(key) is None else format(row[key], spec)


class BarProgress(Progress):
    """A service's Progress drawn on stderr: a transient bar per batch (on a terminal), lines for the rest."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None

    def start(self, label: str, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.finish()
        console = stderr_console()
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=console, transient=True,
                            disable=self.quiet or not console.is_terminal)
        self.bar.start()
        self.task = self.bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def say(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
