"""Algorithms as learners: resolving a registered algorithm to its `arena.protocols.Learner` class, checking
hyperparameters without starting anything, and creating a learner. The scheduler and `arena train` use only these."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arena.errors import PluginError, UsageError
from arena.protocols import Learner


SHARING = ("all", "team", "agent")  # one module for every agent; one per team; one per agent (or a table)


def seat_modules(info: Any, sharing: Any = "all", module: str = "main") -> list[str]:
    """The module id that plays each seat: `module` for all of them ("all", MARLlib's share), the seat's team name
    ("team", group), the seat's own name ("agent", separate), or the module a table {module: [agent names]} lists
    it under (a seat it does not list: "", no module). A ValueError says what is wrong with `sharing`."""
    if isinstance(sharing, Mapping):
        by_agent = {agent: str(m) for m, agents in sharing.items() for agent in agents}
        return [by_agent.get(name, "") for name in info.seat_names]
    if sharing not in SHARING:
        raise ValueError(f"sharing must be one of {', '.join(SHARING)} or a table {{module = [agents]}}, not "
                         f"{sharing!r}")
    if sharing == "all" or info.num_seats == 1:
        return [module] * info.num_seats
    if sharing == "agent":
        return [name.replace(":", "_") for name in info.seat_names]
    side = {seat: i for i, seats in enumerate(info.sides) for seat in seats}
    names = info.team_names or tuple(f"seat{i}" for i in range(len(info.sides)))
    return [names[side[seat]].replace(":", "_") for seat in range(info.num_seats)]


def team_seats(info: Any, team: str | None) -> tuple[int, ...]:
    """The seats a learner bound to `team` plays (every seat when None); a ValueError names the teams."""
    if team is None:
        return tuple(range(info.num_seats))
    if team not in info.team_names:
        raise ValueError(f"{info.env_id} has no team {team!r}; its teams: {', '.join(info.team_names) or 'none'}")
    return info.teams[info.team_names.index(team)]


def mapping_problem(info: Any, sharing: Any, team: Any) -> str | None:
    """What is wrong with a learner's agent-to-module mapping on this game (`sharing`, `team`), or None: one line
    that starts with the key at fault ("sharing: ", "team: " or "env: ")."""
    problem = _mapping_problem(info, sharing, team)
    if problem is None or problem.split(": ", 1)[0] in ("sharing", "team", "env"):
        return problem
    return ("sharing: " if problem.startswith("sharing") else "team: ") + problem


def _mapping_problem(info: Any, sharing: Any, team: Any) -> str | None:
    if team is not None and not isinstance(team, str):
        return f"team must be a team's name, not {team!r}"
    if isinstance(sharing, Mapping):
        listed = [a for agents in sharing.values() for a in (agents if isinstance(agents, list) else [None])]
        if None in listed or not all(isinstance(a, str) for a in listed):
            return "sharing: a table maps each module to a list of agent names, e.g. {chasers = [\"adversary_0\"]}"
        bad_module = [m for m in sharing if not str(m) or ":" in str(m)]
        if bad_module:
            return f"sharing: module name {bad_module[0]!r} must be non-empty and hold no ':'"
        unknown = sorted(set(listed) - set(info.seat_names))
        if unknown:
            return f"sharing: {info.env_id} has no agent {', '.join(unknown)}; its agents: {', '.join(info.seat_names)}"
        twice = sorted({a for a in listed if listed.count(a) > 1})
        if twice:
            return f"sharing: agent {', '.join(twice)} is mapped to more than one module"
    try:
        seats = team_seats(info, team)
        modules = seat_modules(info, sharing)
    except ValueError as e:
        return str(e)
    if any(info.continuous(s) for s in seats):
        return (f"env: {info.env_id} has continuous (Box) actions, which learners cannot learn yet; train on "
                "continuous_actions=false")
    unmapped = [info.seat_names[s] for s in seats if not modules[s]]
    if unmapped:
        return f"sharing: agent {', '.join(unmapped)} is mapped to no module (list it under one, or set team)"
    return None


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
                   resources: Mapping[str, Any], external: tuple[str, int] | None = None) -> Learner:
    """A learner of this game; with `external` (host, port), one that trains on the episodes of simulators that
    connect there (the optional `create_external` of arena.protocols.ExternalLearner)."""
    cls, params = algorithm(registry, algo)
    if external is not None:
        problem = external_problem(registry, algo, hyperparameters)
        if problem:
            raise UsageError(problem)
        host, port = external
        return cls.create_external(params, env=env, host=host, port=port, hyperparameters=dict(hyperparameters),
                                   hidden=tuple(hidden), seed=seed, resources=dict(resources))
    return cls.create(params, env=env, table=dict(table), hyperparameters=dict(hyperparameters),
                      hidden=tuple(hidden), seed=seed, resources=dict(resources))


def external_problem(registry: Any, algo: str, hyperparameters: Mapping[str, Any]) -> str | None:
    """Why a registered algorithm cannot train on simulators outside Arena (`arena train --external`) with these
    hyperparameters, in one line, or None (arena.protocols.ExternalLearner); starts nothing."""
    cls, params = algorithm(registry, algo)
    if not callable(getattr(cls, "create_external", None)):
        return f"Algorithm {algo!r} cannot train on external simulators (its learner has no create_external); ppo can."
    check = getattr(cls, "check_external", None)
    return check(params, dict(hyperparameters)) if callable(check) else None


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
