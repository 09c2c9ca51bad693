"""Arena: a plugin-based arena for multi-agent games. Light to import: no game library, ray or torch here, and the
plugin machinery (pluggy, entry points) only when first asked for, so an agent using arena.remote starts fast."""
from __future__ import annotations

from typing import Any

from arena.errors import ArenaError

__all__ = ["ArenaError", "get_plugin_manager", "hookimpl", "hookspec"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("hookimpl", "hookspec"):
        from arena import hookspecs

        return getattr(hookspecs, name)
    if name == "get_plugin_manager":
        from arena.plugin_manager import get_plugin_manager

        return get_plugin_manager
    raise AttributeError(f"module 'arena' has no attribute {name!r}")
