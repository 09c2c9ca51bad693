"""Where Arena keeps things by default, and the environment variables that move them. Imports nothing heavy."""
from __future__ import annotations

import os

DB_ENV_VAR = "ARENA_DB"
DEFAULT_DB = "arena.db"


def default_db() -> str:
    """The store path: $ARENA_DB, else ./arena.db."""
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB
