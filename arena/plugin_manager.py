"""The plugin manager factory: built-in plugins and installed `arena` entry points, loaded the same way."""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import re
from collections.abc import Iterable

import pluggy

from arena import hookspecs
from arena.errors import PluginError
from arena.settings import BLOCK_ENV_VAR, Settings

# Built-in plugins are ordinary plugin modules, registered exactly like third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "arena.envs.pettingzoo",
    "arena.envs.openspiel",
    "arena.envs.gymnasium",
    "arena.envs.mpe",
    "arena.plugins.random_policy",
    "arena.plugins.mcts",
    "arena.plugins.alphabeta",
    "arena.plugins.connect_four",
    "arena.plugins.rps",
    "arena.plugins.mpe_heuristics",
    "arena.plugins.snapshot",
    "arena.plugins.puct",
    "arena.plugins.rllib_algorithms",
    "arena.plugins.rllib_offline",
    "arena.plugins.matchmakers",
)


def get_plugin_manager(*, entry_points: bool = True, block: Iterable[str] | None = None) -> pluggy.PluginManager:
    """A fresh plugin manager with the built-in plugins and, unless told not to, every installed `arena` entry point.

    Plugins named in `block` (default: the settings' block list, $ARENA_BLOCK_PLUGINS) are not loaded.
    """
    pm = pluggy.PluginManager("arena")
    pm.add_hookspecs(hookspecs)
    blocked = set(Settings.from_environment().blocked if block is None else block)
    for name in blocked:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if pm.is_blocked(module_name):
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as e:  # a broken built-in is still reported in one line
            raise PluginError(f"Built-in plugin {module_name!r} failed to import: {e}") from e
        pm.register(module, name=module_name)
    if entry_points:
        for ep in importlib.metadata.entry_points(group="arena"):
            if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
                continue
            try:
                pm.load_setuptools_entrypoints("arena", name=ep.name)
            except Exception as e:
                raise PluginError(
                    f"Plugin {ep.name!r} ({ep.value}) failed to load: {type(e).__name__}: {e}. "
                    f"Fix or uninstall it, or skip it with {BLOCK_ENV_VAR}={ep.name}."
                ) from e
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise _unknown_hook(pm, e) from e
    return pm


def _unknown_hook(pm: pluggy.PluginManager, error: pluggy.PluginValidationError) -> PluginError:
    """One line for a misspelt hook: which plugin, which name, the nearest real hook, and how to skip it."""
    name = pm.get_name(error.plugin) or repr(error.plugin)
    found = re.search(r"unknown hook '([^']+)'", str(error))
    wrong = found[1] if found else "?"
    known = sorted(n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "arena_spec"))
    near = difflib.get_close_matches(wrong, known, n=1)
    hint = f"Did you mean {near[0]!r}? " if near else f"The hooks are: {', '.join(known)}. "
    return PluginError(f"Plugin {name!r} implements an unknown hook {wrong!r}. {hint}"
                       f"Fix the plugin, or skip it with {BLOCK_ENV_VAR}={name}.")


def plugin_source(pm: pluggy.PluginManager, name: str) -> str:
    """Where a plugin came from: "built-in", or the distribution and version that declared its entry point."""
    plugin = pm.get_plugin(name)
    for p, dist in pm.list_plugin_distinfo():
        if p is plugin:
            return f"{dist.project_name} {dist.version}"
    return "built-in" if name in DEFAULT_PLUGINS else "registered at run time"
