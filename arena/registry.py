"""Registries of envs, policies, algorithms and matchmakers, built from the plugins' register hooks.

Ids are `namespace/name` with a version suffix (`-vN`, or PettingZoo's own `_vN`); an id given
without its version means the latest registered one. A registration whose id is `namespace/*`
covers any name in that namespace: its target is called with the name (as written) and returns what
an ordinary registration's target would be (an env factory, a policy class). `namespace/*-vN` covers
any name at version N: the name is passed without the version, and the canonical id carries it. Parameters follow a colon: `ID:key=value,key=value`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy

from arena.errors import ArenaError, DuplicateIdError, GameError, ParameterError, PluginError, UnknownIdError
from arena.ids import format_spec, is_remote, parse_spec, remote_id, split_version, valid_id
from arena.settings import Settings
from arena.policy import BoundPolicy, build_policy, coerce_params, default_params
from arena.types import KINDS, Registration

PLURAL = {"env": "envs", "policy": "policies", "algorithm": "algorithms", "matchmaker": "matchmakers"}
def list_command(kind: str) -> str:
    return f"arena {PLURAL[kind]}"


class Registry:
    """Everything the installed plugins registered, collected lazily per kind, each id tagged with its plugin."""

    def __init__(self, pm: pluggy.PluginManager | None = None, *, settings: Settings | None = None):
        self.settings = settings or Settings.from_environment()
        if pm is None:
            from arena.plugin_manager import get_plugin_manager

            pm = get_plugin_manager(block=self.settings.blocked)
        self.pm = pm
        self._entries: dict[str, dict[str, Registration]] = {}

    # -- collecting -------------------------------------------------------------------------
    def entries(self, kind: str) -> dict[str, Registration]:
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind {kind!r}")
        if kind not in self._entries:
            self._entries[kind] = self._collect(kind)
        return self._entries[kind]

    def _collect(self, kind: str) -> dict[str, Registration]:
        entries: dict[str, Registration] = {}
        hook_name = f"register_{PLURAL[kind]}"
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            plugin = impl.plugin_name

            def register(id: str, target: Any, *, description: str = "", params: Mapping[str, Any] | None = None,
                         teams: Mapping[str, Any] | None = None, _plugin: str = plugin) -> None:
                if not valid_id(id):
                    raise PluginError(f"Plugin {_plugin!r} registered a bad {kind} id {id!r}: use namespace/name-vN.")
                if id in entries:
                    raise DuplicateIdError(
                        f"The {kind} id {id!r} is registered twice: by plugin {entries[id].plugin!r} and by plugin "
                        f"{_plugin!r}. Uninstall one of them or block it with ARENA_BLOCK_PLUGINS."
                    )
                entries[id] = Registration(kind, id, target, _plugin, description.strip(), dict(params or {}),
                                           {k: list(v) for k, v in teams.items()} if teams else None)

            try:
                impl.function(**{name: register for name in impl.argnames})
            except ArenaError:
                raise
            except Exception as e:
                raise PluginError(f"Plugin {plugin!r} failed in {hook_name}: {type(e).__name__}: {e}") from e
        return entries

    def ids(self, kind: str) -> list[str]:
        return sorted(self.entries(kind))

    # -- lookup -----------------------------------------------------------------------------
    def resolve(self, kind: str, id_: str) -> Registration:
        """The registration for an id: exact, else the latest version of an unversioned id, else a `ns/*` fallback."""
        entries = self.entries(kind)
        if id_ in entries and "*" not in id_:
            return entries[id_]
        base, version = split_version(id_)
        if version is None:
            versions = [(v, e) for eid, e in entries.items() if (sv := split_version(eid))[0] == base
                        and (v := sv[1]) is not None]
            if versions:
                return max(versions, key=lambda ve: ve[0])[1]
        ns, slash, name = id_.partition("/")
        for pattern, fallback in entries.items() if slash and name else ():
            if not pattern.startswith(f"{ns}/*"):
                continue
            suffix = pattern[len(ns) + 2:]
            bare, written = split_version(name)
            if suffix and written not in (None, split_version("x" + suffix)[1]):
                continue
            canonical, given = (id_, name) if not suffix else (f"{ns}/{bare}{suffix}", bare)
            try:
                target = fallback.load()(given)
            except ArenaError:
                raise
            except Exception as e:
                raise PluginError(f"Plugin {fallback.plugin!r} failed to resolve {id_!r}: {type(e).__name__}: {e}") from e
            return Registration(kind, canonical, target, fallback.plugin, fallback.description, fallback.params,
                                fallback.teams)
        known = set(entries) | {split_version(e)[0] for e in entries}
        raise UnknownIdError(kind, id_, sorted(k for k in known if "*" not in k), list_command(kind))

    # -- building ---------------------------------------------------------------------------
    def make_game(self, spec: str) -> Any:
        """Build and adapt a game from `ENV_ID[:key=value,...]`; returns an object implementing protocols.Game."""
        id_, params = parse_spec(spec)
        reg = self.resolve("env", id_)
        factory = reg.load()
        try:
            env = factory(**{**reg.params, **params})
        except ArenaError:
            raise
        except TypeError as e:
            raise ParameterError(f"Env {reg.id!r} rejected parameters {params}: {e}") from e
        except Exception as e:
            raise GameError(f"Env {reg.id!r} failed to build: {type(e).__name__}: {e}") from e
        explicit = {k: v for k, v in params.items() if reg.params.get(k, _MISSING) != v}
        try:
            game = self.pm.hook.adapt_env(env=env, env_id=format_spec(reg.id, explicit))
        except ArenaError:
            raise
        except Exception as e:
            raise GameError(f"Env {reg.id!r} could not be adapted: {type(e).__name__}: {e}") from e
        if game is None:
            raise GameError(
                f"Env {reg.id!r} returned a {type(env).__module__}.{type(env).__name__}, which Arena cannot adapt: "
                "return a PettingZoo AECEnv or ParallelEnv, a pyspiel.Game or a gymnasium.Env."
            )
        if reg.teams:
            game.info = with_teams(game.info, reg.teams, reg)
        return game

    def _policy_spec(self, spec: str) -> tuple[Registration, dict[str, Any], str]:
        """(registration, checked parameters, canonical player id) of a policy spec, resolved once."""
        if is_remote(spec):  # exec:COMMAND, tcp:HOST:PORT: an agent outside Arena (arena.remote)
            return _REMOTE, {}, remote_id(spec)
        id_, params = parse_spec(spec)
        reg = self.resolve("policy", id_)
        defaults = default_params(reg)
        params = coerce_params(reg, params)
        return reg, params, format_spec(reg.id, {k: v for k, v in params.items() if defaults.get(k, _MISSING) != v})

    def player_id(self, spec: str) -> str:
        """The canonical player id of a policy spec: resolved id plus the parameters that differ from defaults."""
        return self._policy_spec(spec)[2]

    def make_policy(self, spec: str) -> BoundPolicy:
        reg, params, player = self._policy_spec(spec)
        if reg is _REMOTE:
            from arena.remote.client import RemotePolicy

            return BoundPolicy(player, RemotePolicy(player))
        return build_policy(reg, params, player)


_MISSING = object()
_REMOTE = Registration("policy", "remote", None, "arena")


def with_teams(info: Any, teams: Mapping[str, Any], reg: Registration) -> Any:
    """GameInfo with the teams a registration states ({team: [seat names]}): every seat on exactly one team."""
    import dataclasses

    names = list(info.seat_names)
    placed = [s for members in teams.values() for s in members]
    if sorted(placed) != sorted(names):
        raise PluginError(f"Env {reg.id!r} (plugin {reg.plugin!r}) states teams {dict(teams)}, which do not put each "
                          f"of its seats {names} on exactly one team.")
    return dataclasses.replace(info, teams=tuple(tuple(names.index(s) for s in members) for members in teams.values()),
                               team_names=tuple(teams))
