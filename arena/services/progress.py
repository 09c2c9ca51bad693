"""How a long workflow tells its front end what it is doing: a Progress object with no-op defaults."""
from __future__ import annotations


class Progress:
    """Reports from a service. The CLI draws bars and lines on stderr; tests and scripts pass the silent default."""

    def start(self, label: str, total: int) -> None:
        """A batch of `total` games (or steps) begins."""

    def advance(self, n: int = 1) -> None:
        """`n` more of the current batch are done."""

    def finish(self) -> None:
        """The current batch is over (finished or cut short)."""

    def say(self, text: str) -> None:
        """A line worth showing a person: a round starts, a snapshot was frozen."""


SILENT = Progress()
