"""Algorithms as learners: resolving a registered algorithm to its `arena.protocols.Learner` class, checking
hyperparameters without starting anything, and creating a learner. The scheduler and `arena train` use only these."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena.errors import PluginError
from arena.protocols import Learner


def algorithm(registry: Any, algo: str) -> tuple[Any, Mapping[str, Any]]:
    """(the Learner class, its registration params) of a registered algorithm."""
    registration = registry.resolve("algorithm", algo)
    cls = registration.load()
    missing = [m for m in ("check_hyperparameters", "create") if not callable(getattr(cls, m, None))]
    if missing:
        raise PluginError(f"Algorithm {algo!r} (plugin {registration.plugin!r}) does not follow arena.protocols.Learner: "
                          f"it lacks {', '.join(missing)}.")
    return cls, registration.params


def check_hyperparameters(registry: Any, algo: str, hyperparameters: Mapping[str, Any]) -> str | None:
    """One line naming hyperparameters the algorithm does not know, or None; starts no training machinery."""
    cls, params = algorithm(registry, algo)
    return cls.check_hyperparameters(params, hyperparameters)


def create_learner(registry: Any, algo: str, *, env: str, table: Mapping[str, float],
                   hyperparameters: Mapping[str, Any], hidden: tuple[int, ...], seed: int,
                   resources: Mapping[str, Any]) -> Learner:
    cls, params = algorithm(registry, algo)
    return cls.create(params, env=env, table=dict(table), hyperparameters=dict(hyperparameters),
                      hidden=tuple(hidden), seed=seed, resources=dict(resources))
