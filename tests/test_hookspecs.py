"""Every hook is documented in docs/plugins.md with its exact signature, and has a one-line docstring."""
from __future__ import annotations

import inspect
from pathlib import Path

import pluggy

from arena import hookimpl, hookspec, hookspecs

PLUGINS_PAGE = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()


def hooks():
    return [(name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if hasattr(fn, "arena_spec")]


def test_markers_are_for_the_arena_project():
    assert isinstance(hookspec, pluggy.HookspecMarker) and hookspec.project_name == "arena"
    assert isinstance(hookimpl, pluggy.HookimplMarker) and hookimpl.project_name == "arena"
    assert {name for name, _ in hooks()} >= {"register_envs", "register_policies", "register_algorithms",
                                             "register_matchmakers", "register_commands"}


def test_every_hook_is_documented_with_its_exact_signature():
    for name, fn in hooks():
        signature = f"{name}({', '.join(inspect.signature(fn).parameters)})"
        assert f"`{signature}`" in PLUGINS_PAGE, f"docs/plugins.md does not document {signature}"
        assert fn.__doc__ and len(fn.__doc__.strip().splitlines()) == 1
