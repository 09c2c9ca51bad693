"""Arena's error types: one base class, a few specific kinds; only the CLI turns them into exit codes."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class ArenaError(Exception):
    """Base of every error Arena raises on purpose. The message is one line a user can act on."""

    exit_code = 1


class UsageError(ArenaError):
    """Bad input from the user: an unknown id, a malformed parameter, an impossible request."""

    exit_code = 2


class UnknownIdError(UsageError):
    """An id that no plugin registered."""

    def __init__(self, kind: str, wanted: str, known: Iterable[str], list_command: str, *, where: str = "",
                 listing: str = "to list the registered ones"):
        near = difflib.get_close_matches(wanted, list(known), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        place = f" in {where}" if where else ""
        super().__init__(f"Unknown {kind} {wanted!r}{place}.{hint} Run `{list_command}` {listing}.")
        self.wanted = wanted
        self.suggestions = near


class ParameterError(UsageError):
    """A parameter that an env or policy does not take, or a value it cannot use."""


class DuplicateIdError(ArenaError):
    """Two plugins registered the same id."""


class PluginError(ArenaError):
    """A plugin failed to load or to register what it offers."""


class IncompatiblePolicyError(UsageError):
    """A policy that cannot play the requested game (for example MCTS on a game with no native state)."""


class GameError(ArenaError):
    """A game adapter or env factory failed."""


class Forfeit(Exception):
    """Raised by a policy that gives up the game it is in (a remote agent that crashed, stalled or answered
    garbage): the runner forfeits its seat with the message as the reason, and the match goes on."""


class RemoteAgentError(UsageError):
    """A remote agent (`exec:COMMAND`, `tcp:HOST:PORT`) that cannot be started, reached or understood at all."""
