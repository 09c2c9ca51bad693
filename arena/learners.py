"""Algorithms as learners: resolving a registered algorithm to its `arena.protocols.Learner` class, checking
hyperparameters without starting anything, and creating a learner. The scheduler and `arena train` use only these."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena.errors import PluginError, UsageError
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


def offline_algorithm(registry: Any, algo: str) -> tuple[Any, Mapping[str, Any]]:
    """(the class, its registration params) of a registered offline algorithm: one that learns from a dataset with
    `clone` (arena.protocols.OfflineLearner) instead of meeting opponents."""
    registration = registry.resolve("algorithm", algo)
    cls = registration.load()
    if not callable(getattr(cls, "clone", None)):
        raise UsageError(f"Algorithm {algo!r} learns by playing, not from --data; offline algorithms (such as bc) "
                         "clone a dataset.")
    if not callable(getattr(cls, "check_hyperparameters", None)):
        raise PluginError(f"Algorithm {algo!r} (plugin {registration.plugin!r}) does not follow "
                          "arena.protocols.OfflineLearner: it lacks check_hyperparameters.")
    return cls, registration.params


def is_offline(registry: Any, algo: str) -> bool:
    """Whether a registered algorithm learns from data (has `clone`) rather than by playing."""
    return callable(getattr(registry.resolve("algorithm", algo).load(), "clone", None))


def restore(learner: Learner, folder: Any, algo: str) -> None:
    """Start a learner from a snapshot folder (its policy and, when it kept one, its value head), through the
    optional `restore` of the learner contract."""
    method = getattr(learner, "restore", None)
    if not callable(method):
        raise UsageError(f"Algorithm {algo!r} cannot start from a snapshot (its learner has no restore).")
    method(folder)
