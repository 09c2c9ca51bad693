"""Arena's agent protocol (docs/protocol.md), the part both ends share: its version, the message kinds and how a
message becomes one line. Standard library only, so an agent can copy it.

Every message is one JSON object on one line of UTF-8, ended by a newline, with its kind under "type". Arena
speaks first: `hello`, then per game `new_game`, an `observe` per move (answered by the agent's `act`) and
`game_over`; `quit` ends the session. The agent answers `hello` with its own `hello` (name, version, games).
"""
from __future__ import annotations

import json
from typing import Any

PROTOCOL = 1  # bumped on any change an agent written for the old version would misread
# What an `observe` carries unless the agent's hello names a subset (its "observe" list).
OBSERVE_FIELDS = ("observation", "legal_actions", "state")
OPTIONAL_FIELDS = OBSERVE_FIELDS + ("action_mask", "history")

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode(message: dict[str, Any]) -> bytes:
    """One message as its line, newline included."""
    return (_encoder.encode(message) + "\n").encode()


def decode(line: bytes | str) -> dict[str, Any]:
    """One line as a message; ValueError with the reason when it is not a JSON object with a "type"."""
    try:
        message = json.loads(line)
    except ValueError:
        raise ValueError(f"not JSON: {_clip(line)}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ValueError(f"not a message (a JSON object with a \"type\"): {_clip(line)}")
    return message


def _clip(line: bytes | str, width: int = 80) -> str:
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    text = text.strip()
    return repr(text if len(text) <= width else text[:width] + "...")


def to_lists(value: Any) -> Any:
    """An observation as JSON: numpy arrays as nested lists, dicts and tuples walked, scalars as numbers."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(value, dict):
        return {str(k): to_lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_lists(v) for v in value]
    return value
