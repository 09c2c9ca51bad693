"""Where Arena keeps things by default, and the environment variables that move them. Imports nothing heavy."""
from __future__ import annotations

import os
from pathlib import Path

DB_ENV_VAR = "ARENA_DB"
DEFAULT_DB = "arena.db"
SNAPSHOTS_ENV_VAR = "ARENA_SNAPSHOTS"


def default_db() -> str:
    """The store path: $ARENA_DB, else ./arena.db."""
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB


def snapshots_dir() -> Path:
    """Where snapshot/NAME lives: $ARENA_SNAPSHOTS, else ./snapshots."""
    return Path(os.environ.get(SNAPSHOTS_ENV_VAR) or "snapshots")
