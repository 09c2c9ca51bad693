"""The id grammar, in one place: `namespace/name` with a version (`-vN` or `_vN`), and parameters after a colon
(`ID:key=value,key=value`). Everything that takes an id apart or puts one together calls these."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from arena.errors import ParameterError

_VERSION = re.compile(r"^(?P<base>.+?)[-_]v(?P<version>\d+)$")
_ID = re.compile(r"^[A-Za-z0-9_.\-]+(/([A-Za-z0-9_.\-]+|\*([-_]v\d+)?))?$")


def split_version(id_: str) -> tuple[str, int | None]:
    m = _VERSION.match(id_)
    return (m["base"], int(m["version"])) if m else (id_, None)


def parse_value(text: str) -> Any:
    """A parameter value from the command line: JSON scalars (4, 0.5, true, "x") or a bare string."""
    try:
        value = json.loads(text)
    except ValueError:
        lowered = text.lower()
        return {"true": True, "false": False}.get(lowered, text)
    if isinstance(value, (dict, list)):
        return text
    return value


def format_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


REMOTE_PREFIXES = ("exec:", "tcp:")  # agents outside Arena (arena.remote): exec:COMMAND, tcp:HOST:PORT


def is_remote(spec: str) -> bool:
    """Whether a policy spec names an agent outside Arena; such a spec has no parameters to take apart."""
    return spec.lstrip().startswith(REMOTE_PREFIXES)


def remote_id(spec: str) -> str:
    """The player id of a remote spec (arena.remote.client.canonical)."""
    from arena.remote.client import canonical

    return canonical(spec)


def player_params(player: str) -> dict[str, Any]:
    """The parameters written in a player id (none for a remote agent's)."""
    return {} if is_remote(player) else parse_spec(player)[1]


def parse_spec(text: str) -> tuple[str, dict[str, Any]]:
    """`ID:key=value,key=value` -> (ID, {key: value})."""
    id_, sep, rest = text.strip().partition(":")
    params: dict[str, Any] = {}
    for item in rest.split(",") if sep else ():
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ParameterError(f"Bad parameter {item!r} in {text!r}: write ID:key=value,key=value.")
        params[key.strip()] = parse_value(value.strip())
        if isinstance(params[key.strip()], float) and not math.isfinite(params[key.strip()]):  # 1e309, NaN
            raise ParameterError(f"Parameter {key.strip()!r} in {text!r} must be a finite number, got {value.strip()}.")
    if not id_:
        raise ParameterError(f"Empty id in {text!r}.")
    return id_, params


def format_spec(id_: str, params: Mapping[str, Any]) -> str:
    """The canonical text of an id with parameters: keys sorted, so equal specs compare equal."""
    if not params:
        return id_
    return id_ + ":" + ",".join(f"{k}={format_value(params[k])}" for k in sorted(params))


def valid_id(id_: Any) -> bool:
    """Whether a plugin may register this id: `name`, `namespace/name[-vN]`, or a `namespace/*[-vN]` fallback."""
    return isinstance(id_, str) and bool(_ID.match(id_))


def strip_params(spec: str) -> str:
    """The id of a spec without its parameters: `openspiel/goofspiel-v0:num_cards=5` -> `openspiel/goofspiel-v0`."""
    return spec.partition(":")[0]


def family(spec: str) -> str:
    """The id without parameters and version: `openspiel/connect_four-v0:x=1` -> `openspiel/connect_four`."""
    return split_version(strip_params(spec))[0]


def base_name(spec: str) -> str:
    """The bare name: `openspiel/connect_four-v0:x=1` -> `connect_four` (for file and run names)."""
    return family(spec).rpartition("/")[2]
