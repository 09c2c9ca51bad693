"""The hooks a plugin can implement, and the pluggy markers for the project name "arena"."""
from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("arena")
hookimpl = pluggy.HookimplMarker("arena")


@hookspec
def register_envs(register: Any) -> None:
    """Register games: register(id, factory, description="", params=None, teams=None); factory(**params) returns an ecosystem env; teams ({team: [agent names]}) groups seats into sides."""


@hookspec
def register_policies(register: Any) -> None:
    """Register policies: register(id, policy, description="", params=None); policy is a class, an object with act, or a function."""


@hookspec
def register_algorithms(register: Any) -> None:
    """Register training algorithms: register(id, factory, description="", params=None)."""


@hookspec
def register_matchmakers(register: Any) -> None:
    """Register matchmakers: register(id, function, description="", params=None)."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the `arena` click group."""


@hookspec(firstresult=True)
def adapt_env(env: Any, env_id: str) -> Any:
    """Wrap an ecosystem env object in Arena's Game interface, or return None if it is not yours."""
