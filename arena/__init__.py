"""Arena: a plugin-based arena for multi-agent games. Light to import: no game library, ray or torch here."""
from __future__ import annotations

from arena.errors import ArenaError
from arena.hookspecs import hookimpl, hookspec
from arena.plugin_manager import get_plugin_manager

__all__ = ["ArenaError", "get_plugin_manager", "hookimpl", "hookspec"]
__version__ = "0.1.0"
