"""The pieces of Arena's conformance checks: failures, a step-checked game, checked play (see arena.testing)."""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from arena.errors import ArenaError, ParameterError
from arena.match import play_game
from arena.policy import BoundPolicy
from arena.registry import Registry, parse_spec
from arena.types import MatchResult, ranks_from_returns


# Check names, the first word of every failure line.
GAME_BUILD = "game.build"
GAME_INFO = "game.info"
GAME_PLAY = "game.play"
GAME_SEEDS = "game.seeds"
GAME_PETTINGZOO = "game.pettingzoo_api"
POLICY_BUILD = "policy.build"
POLICY_DECLINE = "policy.decline"
POLICY_PLAY = "policy.play"
POLICY_SEEDS = "policy.seeds"
POLICY_SUPPORT = "policy.support"

OPPONENT = "random"  # what sits in the other seats while a policy is checked


@dataclass(frozen=True)
class Failure:
    """One problem found by a check: which check, on what, where (seed, move), and what to fix, in one line."""

    check: str  # e.g. "game.play", "policy.play"
    subject: str  # the env spec, or the policy spec
    message: str  # what went wrong and what to fix; one line
    seed: int | None = None  # the game seed it happened on, when a game was being played
    move: int | None = None  # 1-based decision of that game (chance events excluded), when known

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"seed {self.seed}" if self.seed is not None else "",
                                      f"move {self.move}" if self.move is not None else "") if p)
        return f"{self.check}: {self.subject}: {where + ': ' if where else ''}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ConformanceError(AssertionError):
    """Raised by assert_passes: every failure, one per line."""

    def __init__(self, failures: Sequence[Failure]):
        self.failures = list(failures)
        super().__init__("\n".join(str(f) for f in self.failures))


def assert_passes(failures: Iterable[Failure]) -> None:
    """Raise ConformanceError (an AssertionError, so pytest shows it as a failed assertion) if there are failures."""
    failures = list(failures)
    if failures:
        raise ConformanceError(failures)


def registry_with(*plugins: object, entry_points: bool = False) -> Registry:
    """A fresh registry with the built-in plugins plus `plugins` (modules or objects with @hookimpl functions).

    Installed third-party plugins are left out unless `entry_points` is true, so a test sees only what it names.
    """
    from arena.plugin_manager import get_plugin_manager

    pm = get_plugin_manager(entry_points=entry_points)
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=getattr(plugin, "__name__", None) or f"{type(plugin).__name__}_{i}")
    return Registry(pm)


def raw_env(registry: Registry, env: str) -> Any:
    """The ecosystem env exactly as the registration's factory builds it (parameters included), before adapting."""
    id_, params = parse_spec(env)
    registration = registry.resolve("env", id_)
    return registration.load()(**{**registration.params, **params})


def is_pettingzoo(obj: Any) -> bool:
    try:
        from pettingzoo.utils.env import AECEnv, ParallelEnv
    except ImportError:  # no PettingZoo installed: nothing can be a PettingZoo env
        return False
    return isinstance(obj, (AECEnv, ParallelEnv))


# ---------------------------------------------------------------------------------------------------------------
# A game that checks itself at every step
# ---------------------------------------------------------------------------------------------------------------
class Violation(AssertionError):
    """A broken game contract, raised inside the game loop by CheckedGame (and kept on it as `violation`)."""


def _short(values: Sequence[Any], limit: int = 12) -> str:
    values = list(values)
    if len(values) <= limit:
        return str(values)
    return "[" + ", ".join(map(str, values[:limit])) + f", ... ({len(values)} in all)]"


class CheckedGame:
    """Wraps a Game and checks, at every step, what the match runner otherwise trusts: to_move() is () exactly when
    the game is over and names distinct seats (one, in a turn-based game); each seat to move has a legal action; the
    action mask has num_actions entries and allows exactly legal_actions; the observation lies in observation_space;
    actions come exactly from the seats to move and are legal.

    The first broken rule of a game is raised as a Violation (the runner then ends that game with an error) and kept
    in `violation` with the move it happened at; a crash of the game itself is kept in `crash` with what was called.
    """

    def __init__(self, game: Any):
        self._game = game
        self.info = game.info
        self.steps = 0  # steps taken over every game played on this wrapper
        self.moves = 0  # decisions taken in the current game
        self.violation: str | None = None
        self.crash: str | None = None
        self.at_move: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._game, name)

    def _fail(self, message: str) -> None:
        if self.violation is None:
            self.violation, self.at_move = message, self.moves + 1
        raise Violation(message)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Violation:
            raise
        except Exception as e:
            if self.crash is None and self.violation is None:
                self.crash, self.at_move = f"{what} raised {type(e).__name__}: {e}", self.moves + 1
            raise

    def reset(self, seed: int) -> None:
        self.moves, self.violation, self.crash, self.at_move = 0, None, None, None
        self._call(f"reset({seed})", lambda: self._game.reset(seed))

    def is_over(self) -> bool:
        return self._call("is_over()", self._game.is_over)

    def legal_actions(self, seat: int) -> Sequence[int]:
        return self._call(f"legal_actions({seat})", lambda: self._game.legal_actions(seat))

    def action_mask(self, seat: int) -> np.ndarray:
        return self._call(f"action_mask({seat})", lambda: self._game.action_mask(seat))

    def observation(self, seat: int) -> Any:
        return self._call(f"observation({seat})", lambda: self._game.observation(seat))

    def returns(self) -> tuple[float, ...]:
        return self._call("returns()", self._game.returns)

    def to_move(self) -> Sequence[int]:
        movers = list(self._call("to_move()", self._game.to_move))
        over = self.is_over()
        n = self.info.num_seats
        if bool(movers) == over:
            self._fail(f"to_move() is {movers} but is_over() is {over}: to_move() must be () exactly when the game "
                       "is over")
        if len(set(movers)) != len(movers) or not all(isinstance(s, (int, np.integer)) and 0 <= s < n
                                                      for s in movers):
            self._fail(f"to_move() gave seats {movers}: give distinct seat numbers in 0..{n - 1}")
        if not self.info.simultaneous and len(movers) > 1:
            self._fail(f"to_move() gave {len(movers)} seats {movers} in a turn-based game: give one seat, or "
                       "declare the game simultaneous in GameInfo")
        return movers

    def step(self, actions: Mapping[int, int]) -> None:
        game, info = self._game, self.info
        if self.is_over():
            self._fail("step() was called on a finished game")
        movers = list(self._call("to_move()", game.to_move))
        if not movers:
            self._fail("no seat to move in a game that is not over: to_move() must name a seat until is_over()")
        if sorted(actions) != sorted(movers):
            self._fail(f"actions came for seats {sorted(actions)} but to_move() is {movers}")
        for seat, action in actions.items():
            if not 0 <= seat < info.num_seats:
                self._fail(f"an action came for seat {seat}, outside 0..{info.num_seats - 1}")
            if info.continuous(seat):
                box = info.action_spaces[seat]
                if not box.contains(np.asarray(action, dtype=box.dtype)):
                    self._fail(f"action {action!r} for seat {seat} is outside its action space {box}")
                self._check_observation(seat)
                continue
            legal = [int(a) for a in self.legal_actions(seat)]
            if not legal:
                self._fail(f"seat {seat} must move but legal_actions({seat}) is empty: a seat in to_move() needs a "
                           "legal action, or the game must be over")
            if action not in legal:
                self._fail(f"illegal action {action} for seat {seat}; legal: {_short(legal)}")
            mask = np.asarray(self.action_mask(seat))
            if mask.shape != (info.num_actions,):
                self._fail(f"action_mask({seat}) has shape {mask.shape} but num_actions is {info.num_actions}: "
                           f"give one entry per action")
            allowed = sorted(np.flatnonzero(mask).tolist())
            if allowed != sorted(legal):
                self._fail(f"action_mask({seat}) allows {_short(allowed)} but legal_actions({seat}) is "
                           f"{_short(sorted(legal))}: both must name the same moves")
            self._check_observation(seat)
        moved = ", ".join(f"seat {s} plays {a}" for s, a in actions.items())
        self._call(f"step() ({moved})", lambda: game.step(actions))
        self.steps += 1
        self.moves += len(actions)

    def _check_observation(self, seat: int) -> None:
        obs = self.observation(seat)
        space = self.info.observation_space_of(seat)
        if space is not None and not space.contains(obs):
            self._fail(f"observation({seat}) ({_describe(obs)}) is outside observation_space {space}: fix the "
                       "observation or the space")

    def problem(self) -> str | None:
        """What went wrong in the last game: the broken rule, or the crash with the call that raised."""
        if self.violation is not None:
            return self.violation
        if self.crash is not None:
            hint = ": the env rejected a move that its action mask allowed, or broke while applying it" \
                if self.crash.startswith("step()") else ""
            return self.crash + hint
        return None


def _describe(obs: Any) -> str:
    if isinstance(obs, np.ndarray):
        try:
            low, high = (obs.min(), obs.max()) if obs.size else ("-", "-")
        except Exception:
            return f"array {obs.dtype} {obs.shape}"
        return f"array {obs.dtype} {obs.shape}, from {low} to {high}"
    return type(obs).__name__


# ---------------------------------------------------------------------------------------------------------------
# Building, with the user's mistakes told apart from the plugin's
# ---------------------------------------------------------------------------------------------------------------
def _resolve_env(registry: Registry, env: str) -> None:
    """Raise the user's errors (malformed spec, unknown id) before any check runs."""
    id_, _ = parse_spec(env)
    registry.resolve("env", id_)


def _build_game(registry: Registry, env: str) -> tuple[Any, Failure | None]:
    _, params = parse_spec(env)
    try:
        return registry.make_game(env), None
    except ParameterError as e:
        if params:  # the user's parameters were refused
            raise
        return None, Failure(GAME_BUILD, env, f"{_exc(e)}: make the env factory work with no parameters")
    except Exception as e:
        return None, Failure(GAME_BUILD, env, f"{_exc(e)}: fix the env factory or its adapter")


def _exc(e: BaseException) -> str:
    text = str(e) if isinstance(e, ArenaError) else f"{type(e).__name__}: {e}"
    return " ".join(text.split())  # one line


def _close(game: Any) -> None:
    with contextlib.suppress(Exception):
        game.close()


def _random(registry: Registry) -> Callable[[], BoundPolicy]:
    return lambda: registry.make_policy(OPPONENT)


def _first_difference(a: MatchResult, b: MatchResult) -> str:
    ma, mb = list(a.moves or ()), list(b.moves or ())
    for i, (x, y) in enumerate(zip(ma, mb)):
        if x != y:
            return f"move {i + 1} was seat {x[0]} playing {x[1]}, then seat {y[0]} playing {y[1]}"
    if len(ma) != len(mb):
        return f"one game lasted {len(ma)} moves, the other {len(mb)}"
    return f"same moves, but returns {a.returns} then {b.returns}"


def _result_problems(game: CheckedGame, result: MatchResult) -> list[str]:
    """What is wrong with a finished game's result: the checks the runner's result must pass."""
    n = game.info.num_seats
    problems = []
    if not game.is_over():
        problems.append("the game stopped with is_over() False: to_move() must name a seat until the game is over")
    if len(result.returns) != n or len(result.players) != n:
        problems.append(f"returns() gave {len(result.returns)} values for {n} seats: give one per seat")
    elif not all(isinstance(r, float) and math.isfinite(r) for r in result.returns):
        problems.append(f"returns() gave {result.returns}: give one finite float per seat")
    elif tuple(game.returns()) != tuple(result.returns):
        problems.append(f"returns() changed after the game ended: {result.returns}, then {tuple(game.returns())}")
    else:
        returns, ranks = result.returns, result.ranks
        if result.teams:  # teams rank by their members' mean return, within the game's draw margin
            teams = game.info.teams
            means = [sum(returns[s] for s in team) / len(team) for team in teams]
            side = {s: t for t, team in enumerate(teams) for s in team}
            expected = tuple(ranks_from_returns(tuple(means), {}, game.info.draw_margin)[side[s]] for s in range(n))
            if tuple(ranks) != expected:
                problems.append(f"ranks {ranks} do not follow the teams' mean returns {means} (expected {expected})")
        elif len(ranks) != n or min(ranks) != 0 or any(
                (returns[a] > returns[b] and not ranks[a] < ranks[b]) or
                (returns[a] == returns[b] and ranks[a] != ranks[b]) for a in range(n) for b in range(n)):
            problems.append(f"ranks {ranks} do not follow returns {returns}")
    if result.length <= 0:
        problems.append("the game ended before any move: is_over() must be False right after reset()")
    if result.moves is not None:
        if result.length != len(result.moves):
            problems.append(f"{len(result.moves)} moves recorded but length is {result.length}")
        if not all(0 <= seat < n for seat, _ in result.moves):
            problems.append(f"a move was recorded for a seat outside 0..{n - 1}")
    return problems


def play_checked(game: Any, policies: Sequence[BoundPolicy], seed: int, *, check: str = GAME_PLAY,
                 subject: str | None = None) -> tuple[MatchResult | None, list[Failure]]:
    """Play one game (policies[i] in seat i) with every step checked (see CheckedGame), and check how it ended:
    no forfeit, finite returns, ranks that follow them. Returns the result (None if the runner itself gave up)
    and the failures, one per problem."""
    checked = game if isinstance(game, CheckedGame) else CheckedGame(game)
    subject = subject or str(checked.info.env_id)
    try:
        result = play_game(checked, policies, seed, record_moves=True)
    except Exception as e:  # the runner re-raises ArenaErrors, e.g. a UsageError from inside an adapter
        return None, [Failure(check, subject, checked.problem() or _exc(e), seed, checked.at_move)]
    problem = checked.problem()
    if problem is not None:
        return result, [Failure(check, subject, problem, seed, checked.at_move)]
    if result.error is not None:
        return result, [Failure(check, subject, result.error, seed, result.length + 1)]
    if result.forfeits:
        failures = []
        for seat, why in result.forfeits.items():
            player = result.players[seat]
            fix = ("legal_actions must give ints the game accepts" if player == OPPONENT else _forfeit_fix(why))
            failures.append(Failure(check, subject, f"{player} in seat {seat} forfeited: {why}: {fix}", seed,
                                    result.length + 1))
        return result, failures
    return result, [Failure(check, subject, p, seed) for p in _result_problems(checked, result)]


def _forfeit_fix(why: str) -> str:
    if why.startswith("illegal action"):
        return "act must return an int from legal_actions (an index where action_mask is 1)"
    if "timed out" in why:
        return "act must return within the move time"
    return "act must not raise; return a legal action for every position"


# ---------------------------------------------------------------------------------------------------------------
# Game checks
# ---------------------------------------------------------------------------------------------------------------
