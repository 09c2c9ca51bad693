"""Turns whatever a plugin registered as a policy (class, object with act, plain function) into one callable shape."""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from arena.errors import ArenaError, IncompatiblePolicyError, ParameterError, PluginError
from arena.types import GameInfo, Registration

# The names a policy's act/reset/check may ask for; the runner passes only what is asked.
# time_left: the seconds this move may take (the tighter of the move and game clocks), None when unlimited.
ACT_ARGUMENTS = ("observation", "action_mask", "legal_actions", "state", "seat", "rng", "history", "game",
                 "time_left")


def _wanted(fn: Callable[..., Any]) -> tuple[tuple[str, ...], bool]:
    """(argument names, positional?) for a callable: injected by name, or (observation, action_mask) by position."""
    params = [
        p for p in inspect.signature(fn).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    names = tuple(p.name for p in params)
    if all(n in ACT_ARGUMENTS for n in names):
        return names, False
    required = [p for p in params if p.default is p.empty]
    if len(required) == 2 and all(p.kind != p.KEYWORD_ONLY for p in required):
        return ("observation", "action_mask"), True
    raise ParameterError(
        f"Cannot call {getattr(fn, '__qualname__', fn)}{inspect.signature(fn)}: a policy takes "
        f"(observation, action_mask) or any of {', '.join(ACT_ARGUMENTS)} by name."
    )


class _Call:
    """A callable bound to the argument names it wants."""

    __slots__ = ("fn", "names", "positional")

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        self.names, fallback = _wanted(fn)
        params = inspect.signature(fn).parameters
        self.positional = fallback or all(params[n].kind != inspect.Parameter.KEYWORD_ONLY for n in self.names)

    def bind(self, getter: Callable[[str], Callable[[], Any]]) -> Callable[[], Any]:
        """A zero-argument callable that fetches each wanted argument from getter(name)() and calls fn."""
        fn, gets = self.fn, [getter(n) for n in self.names]
        if not self.positional:
            names = self.names
            return lambda: fn(**{n: g() for n, g in zip(names, gets)})
        if len(gets) == 0:
            return fn
        if len(gets) == 1:
            (g0,) = gets
            return lambda: fn(g0())
        if len(gets) == 2:
            g0, g1 = gets
            return lambda: fn(g0(), g1())
        return lambda: fn(*[g() for g in gets])


class BoundPolicy:
    """A policy instance ready to play: a stable player id plus act/reset/check with argument injection."""

    def __init__(self, player_id: str, obj: Any):
        self.player_id = player_id
        self.obj = obj
        act = getattr(obj, "act", None)
        if act is None and callable(obj):
            act = obj
        if act is None:
            raise ParameterError(f"Policy {player_id!r} has no act method and is not callable.")
        self.act_call = _Call(act)
        self._reset = _Call(obj.reset) if callable(getattr(obj, "reset", None)) else None
        self._check = _Call(obj.check) if callable(getattr(obj, "check", None)) else None
        # Optional, for a teacher (`arena dataset export --teacher`): action_probabilities(...) -> one probability
        # per action, what it would play as a distribution (required of a teacher); value(...) -> the position's
        # value for the player to move, in [-1, 1].
        probs, value = getattr(obj, "action_probabilities", None), getattr(obj, "value", None)
        self.probabilities_call = _Call(probs) if callable(probs) else None
        self.value_call = _Call(value) if callable(value) else None
        # act_batch(calls) -> actions, each call a dict of the arguments act asks for: many games' moves at once.
        # act_group(objs, calls), a static method of the policy's class: the moves of several games at once where
        # each game has its own instance (a remote agent per game); an item is the action, or an exception that
        # forfeits that game alone.
        self.grouped = callable(getattr(type(obj), "act_group", None))
        self.batchable = callable(getattr(obj, "act_batch", None)) or self.grouped
        self.resets = self._reset is not None  # keeps per-game state: one instance per game in progress
        # Optional lifetime hooks (a remote agent's process): start() before the first game, outside any clock;
        # game_over(seat, result) after each game, seat being the policy's seat (or team) in the result; close()
        # once its player is done with it.
        over = getattr(obj, "game_over", None)
        self.game_over = over if callable(over) else None

    def start(self) -> None:
        start = getattr(self.obj, "start", None)
        if callable(start):
            start()
            # a started policy may ask for less (a remote agent, once its hello says what it observes)
            self.act_call = _Call(getattr(self.obj, "act", self.obj))

    def close(self) -> None:
        close = getattr(self.obj, "close", None)
        if callable(close):
            close()

    def check(self, game: GameInfo) -> None:
        """Raise IncompatiblePolicyError if this policy cannot play the game."""
        if self._check is None:
            return
        try:
            reason = self._check.bind(lambda name: (lambda: game) if name == "game" else _no_arg(name))()
        except ArenaError:
            raise
        except Exception as e:
            raise PluginError(f"Policy {self.player_id!r}: check() raised {type(e).__name__}: {e}") from e
        if reason:
            raise IncompatiblePolicyError(f"{self.player_id} cannot play {game.env_id}: {reason}")

    def sides(self, game: GameInfo) -> tuple[int, ...] | None:
        """The sides (teams, or seats where every seat is its own side) this policy can play, when it says so with
        an optional `sides(game)` method (a snapshot of a learner bound to one team); None: any."""
        fn = getattr(self.obj, "sides", None)
        return tuple(fn(game)) if callable(fn) and fn(game) is not None else None

    def bind(self, getter: Callable[[str], Callable[[], Any]]) -> tuple[Callable[[], Any], Callable[[], Any] | None]:
        """(act, reset) as zero-argument callables whose arguments come from getter(name)()."""
        return self.act_call.bind(getter), (self._reset.bind(getter) if self._reset else None)


def _no_arg(name: str) -> Any:  # check() is called before any game exists
    raise ParameterError(f"check() may only ask for 'game', not {name!r}.")


def default_params(reg: Registration) -> dict[str, Any]:
    """A policy's parameters and their defaults: its class's __init__ keywords, overridden by registered params."""
    target = reg.load()
    found: dict[str, Any] = {}
    if inspect.isclass(target):
        for p in inspect.signature(target).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                found[p.name] = None if p.default is p.empty else p.default
    found.update(reg.params)
    return found


def coerce_params(reg: Registration, given: Mapping[str, Any]) -> dict[str, Any]:
    """Check given parameters against the policy's own and convert them to the defaults' types."""
    defaults = default_params(reg)
    out = {}
    for key, value in given.items():
        if key not in defaults:
            accepted = ", ".join(sorted(defaults)) or "none"
            raise ParameterError(f"Policy {reg.id!r} has no parameter {key!r} (it takes: {accepted}).")
        default = defaults[key]
        if isinstance(value, float) and not math.isfinite(value):  # `depth=1e309` parses as inf
            raise ParameterError(f"Parameter {key!r} of policy {reg.id!r} must be a finite number, got {value!r}.")
        if default is None or isinstance(value, type(default)):
            out[key] = value
        elif isinstance(default, bool) or not isinstance(default, (int, float, str)):
            raise ParameterError(f"Parameter {key!r} of policy {reg.id!r} must be {type(default).__name__}, got {value!r}.")
        else:
            try:
                converted = type(default)(value)
            except (TypeError, ValueError, OverflowError):
                converted = None
            if converted is None or (isinstance(default, int) and converted != value) or \
                    (isinstance(converted, float) and not math.isfinite(converted)):  # "nan" as a float
                raise ParameterError(
                    f"Parameter {key!r} of policy {reg.id!r} must be {type(default).__name__}, got {value!r}."
                )
            out[key] = converted
    return out


def build_policy(reg: Registration, params: Mapping[str, Any], player_id: str) -> BoundPolicy:
    """Instantiate a registered policy with its parameters (classes are called with them; others take none)."""
    target = reg.load()
    merged = {**reg.params, **params}
    if inspect.isclass(target):
        try:
            obj = target(**merged)
        except ArenaError:
            raise
        except (TypeError, ValueError) as e:
            raise ParameterError(f"Policy {reg.id!r} rejected its parameters {dict(merged)}: {e}") from e
        except Exception as e:
            raise PluginError(f"Policy {reg.id!r} (plugin {reg.plugin!r}) failed to start: "
                              f"{type(e).__name__}: {e}") from e
    elif merged:
        raise ParameterError(f"Policy {reg.id!r} takes no parameters (got {', '.join(merged)}).")
    else:
        obj = target
    return BoundPolicy(player_id, obj)
