"""Where Arena keeps things and what it loads: one Settings object, read from the environment once at start-up and
passed down (CLI -> registry -> services and scheduler). Imports nothing heavy."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DB_ENV_VAR = "ARENA_DB"
DEFAULT_DB = "arena.db"
SNAPSHOTS_ENV_VAR = "ARENA_SNAPSHOTS"
BLOCK_ENV_VAR = "ARENA_BLOCK_PLUGINS"


@dataclass(frozen=True)
class Settings:
    """What a run of Arena is configured with. Child processes (match workers, Ray workers) inherit the
    environment variables these came from, so a snapshot or a blocked plugin means the same thing there."""

    db: str = DEFAULT_DB  # the store: $ARENA_DB, else ./arena.db (a command's --db wins)
    snapshots: Path = Path("snapshots")  # where snapshot/NAME lives: $ARENA_SNAPSHOTS, else ./snapshots
    blocked: tuple[str, ...] = ()  # plugins not to load: $ARENA_BLOCK_PLUGINS, comma-separated

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(db=env.get(DB_ENV_VAR) or DEFAULT_DB, snapshots=Path(env.get(SNAPSHOTS_ENV_VAR) or "snapshots"),
                   blocked=tuple(n.strip() for n in env.get(BLOCK_ENV_VAR, "").split(",") if n.strip()))


def default_db() -> str:
    """The store path of this environment's settings."""
    return Settings.from_environment().db


def snapshots_dir() -> Path:
    """The snapshot folder of this environment's settings (plugins and worker processes resolve snapshot/NAME here)."""
    return Settings.from_environment().snapshots
