"""Conformance checks for game and policy plugins: Arena's counterpart of PettingZoo's `api_test`.

Each check is a plain function that plays a few games and returns a list of `Failure`s, one line per problem
(what failed, on which seed and move, and what to fix); an empty list means the check passed. A plugin author
calls them from a test, or runs them all with `arena check ENV [POLICY...]`:

    from arena.testing import assert_passes, check_game, check_policy, registry_with
    import mygame.plugin

    def test_my_game_conforms():
        reg = registry_with(mygame.plugin)
        assert_passes(check_game(reg, "mygame/nim-v0"))
        assert_passes(check_policy(reg, "mygame/nim-v0", "mygame/greedy"))

What is checked:
- game: random games reach the end through Arena's adapter; at every step the seats to move, the legal actions,
  the action mask and the observation agree with each other and with GameInfo; returns are finite floats and the
  ranks follow them (`check_random_games`); the same seed replays the same game, on the same object and on a fresh
  one, and other seeds give other games (`check_seeds`); PettingZoo's own `api_test` or `parallel_api_test` passes
  on the env exactly as the factory builds it (`check_pettingzoo_api`).
- policy: in every seat, beside `random` opponents, it plays only legal moves and the game ends cleanly; a fresh
  instance replays the same game from the same seed; or it declines the game up front, in one line that names the
  game, and the match runner refuses to seat it (`check_policy`).

An id that no plugin registered, or a malformed spec, raises the usual ArenaError (a user error). Anything a
plugin does wrong, crashes included, becomes a Failure, never a traceback.
"""
from __future__ import annotations

import contextlib
import io
import math
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from arena.errors import ArenaError, IncompatiblePolicyError, ParameterError
from arena.match import play_game, play_match
from arena.policy import BoundPolicy
from arena.registry import Registry, parse_spec
from arena.types import MatchResult

__all__ = [
    "CheckedGame", "ConformanceError", "Failure", "Report", "assert_passes", "check_all", "check_game",
    "check_pettingzoo_api", "check_policy", "check_policy_support", "check_random_games", "check_seeds", "declined",
    "is_pettingzoo", "play_checked", "raw_env", "registry_with",
]

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
            obs = self.observation(seat)
            space = info.observation_space
            if space is not None and not space.contains(obs):
                self._fail(f"observation({seat}) ({_describe(obs)}) is outside observation_space {space}: fix the "
                           "observation or the space")
        moved = ", ".join(f"seat {s} plays {a}" for s, a in actions.items())
        self._call(f"step() ({moved})", lambda: game.step(actions))
        self.steps += 1
        self.moves += len(actions)

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
        if len(ranks) != n or min(ranks) != 0 or any(
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
def check_game(registry: Registry, env: str, *, games: int = 2, seed: int = 0,
               pettingzoo_api: bool = True) -> list[Failure]:
    """Every game check on `env` (an env spec, parameters allowed): random games, seeds, and PettingZoo's api_test
    when the factory returns a PettingZoo env. Unknown ids and malformed specs raise; everything else is a Failure."""
    return _game_checks(registry, env, games=games, seed=seed, pettingzoo_api=pettingzoo_api)[0]


def _game_checks(registry: Registry, env: str, *, games: int, seed: int, pettingzoo_api: bool = True,
                 ) -> tuple[list[Failure], list[str]]:
    """(failures, the checks that ran)."""
    failures = check_random_games(registry, env, games=games, seed=seed)
    ran = [GAME_PLAY]
    if any(f.check == GAME_BUILD for f in failures):
        return failures, ran
    if not failures:  # replaying games that do not finish would only repeat what check_random_games found
        failures += check_seeds(registry, env, seed=seed)
        ran.append(GAME_SEEDS)
    api = _pettingzoo_api(registry, env, num_cycles=10) if pettingzoo_api else None
    if api is not None:
        failures += api
        ran.append(GAME_PETTINGZOO)
    return failures, ran


def check_random_games(registry: Registry, env: str, *, games: int = 2, seed: int = 0) -> list[Failure]:
    """GameInfo is consistent, and `games` games of `random` in every seat (seeds seed, seed+1, ...) reach the end
    through the adapter with every step checked by CheckedGame, no forfeit, and returns and ranks that agree."""
    _resolve_env(registry, env)
    game, failure = _build_game(registry, env)
    if failure is not None:
        return [failure]
    try:
        return _random_games(registry, env, game, games, seed)
    except Exception as e:
        return [Failure(GAME_PLAY, env, f"the check itself failed: {_exc(e)}")]
    finally:
        _close(game)


def _random_games(registry: Registry, env: str, game: Any, games: int, seed: int) -> list[Failure]:
    info = game.info
    id_, params = parse_spec(env)
    canonical = registry.resolve("env", id_).id
    problems = []
    if not (isinstance(info.num_seats, int) and info.num_seats >= 1):
        problems.append(f"num_seats is {info.num_seats!r}: a game needs at least one seat")
    elif len(info.seat_names) != info.num_seats or len(set(info.seat_names)) != info.num_seats:
        problems.append(f"seat_names {info.seat_names} must be {info.num_seats} distinct names, one per seat")
    if not (isinstance(info.num_actions, int) and info.num_actions >= 1):
        problems.append(f"num_actions is {info.num_actions!r}: a game needs at least one action")
    try:  # with parameters, the id part; without, exactly the registered id
        got = parse_spec(info.env_id)[0] if params else info.env_id
    except Exception:
        got = None
    if got != canonical:
        problems.append(f"env_id is {info.env_id!r} but the registered id is {canonical!r}: adapt the env with "
                        "the env_id that adapt_env was given")
    if problems:
        return [Failure(GAME_INFO, env, p) for p in problems]
    failures = []
    checked = CheckedGame(game)
    for s in range(seed, seed + games):
        result, found = play_checked(checked, [registry.make_policy(OPPONENT) for _ in range(info.num_seats)], s,
                                     check=GAME_PLAY, subject=env)
        failures += found
        if result is None or found:
            continue
        if result.players != (OPPONENT,) * info.num_seats:
            failures.append(Failure(GAME_PLAY, env, f"players recorded as {result.players}", s))
    if not failures and checked.steps == 0:
        failures.append(Failure(GAME_PLAY, env, "no step was ever taken: is_over() must be False after reset()"))
    return failures


def check_seeds(registry: Registry, env: str, *, seed: int = 0) -> list[Failure]:
    """With `random` in every seat: seed `seed` replays the same game after another game on the same object, and on a
    freshly built one; and the five seeds seed+2..seed+6 do not all give that same game."""
    _resolve_env(registry, env)
    game, failure = _build_game(registry, env)
    if failure is not None:
        return [failure]
    fresh = None
    try:
        n = game.info.num_seats

        def play(g: Any, s: int) -> MatchResult:
            result = play_game(g, [registry.make_policy(OPPONENT) for _ in range(n)], s, record_moves=True)
            if result.error is not None:
                raise _GameFailed(result.error, s, None)
            return result

        def same(a: MatchResult, b: MatchResult) -> bool:
            return (a.moves, a.returns, a.ranks, a.length) == (b.moves, b.returns, b.ranks, b.length)

        fix = ("draw chance events only from the generator seeded by reset(seed), and clear every bit of state in "
               "reset()")
        first = play(game, seed)
        play(game, seed + 1)  # whatever a game leaves behind, reset() must clear
        failures = []
        again = play(game, seed)
        if not same(again, first):
            failures.append(Failure(GAME_SEEDS, env, f"replaying seed {seed} on the same game object gave another "
                                    f"game ({_first_difference(first, again)}): {fix}", seed))
        fresh, failure = _build_game(registry, env)
        if failure is not None:
            return failures + [failure]
        other = play(fresh, seed)
        if not same(other, first):
            failures.append(Failure(GAME_SEEDS, env, f"seed {seed} on a freshly built game gave another game "
                                    f"({_first_difference(first, other)}): {fix}", seed))
        others = [play(game, s) for s in range(seed + 2, seed + 7)]
        if all(same(o, first) for o in others):
            failures.append(Failure(GAME_SEEDS, env, f"seeds {seed + 2}..{seed + 6} all gave exactly the game of seed "
                                    f"{seed}: seed the game's generator from reset(seed)", seed))
        return failures
    except _GameFailed as e:
        return [Failure(GAME_SEEDS, env, e.args[0], e.args[1], e.args[2])]
    except Exception as e:
        return [Failure(GAME_SEEDS, env, f"the check itself failed: {_exc(e)}")]
    finally:
        _close(game)
        if fresh is not None:
            _close(fresh)


class _GameFailed(Exception):
    pass


def check_pettingzoo_api(registry: Registry, env: str, *, num_cycles: int = 10) -> list[Failure]:
    """PettingZoo's own `api_test` (AECEnv) or `parallel_api_test` (ParallelEnv) on the env exactly as the factory
    builds it. Checks nothing, and returns [], when the factory returns something other than a PettingZoo env."""
    return _pettingzoo_api(registry, env, num_cycles) or []


def _pettingzoo_api(registry: Registry, env: str, num_cycles: int) -> list[Failure] | None:
    """check_pettingzoo_api, with None when the env is no PettingZoo env (nothing was checked)."""
    _resolve_env(registry, env)
    try:
        raw = raw_env(registry, env)
    except Exception as e:
        return [Failure(GAME_BUILD, env, f"{_exc(e)}: fix the env factory")]
    try:
        if not is_pettingzoo(raw):
            return None
        from pettingzoo.test import api_test, parallel_api_test
        from pettingzoo.utils.env import AECEnv

        test, name = (api_test, "api_test") if isinstance(raw, AECEnv) else (parallel_api_test, "parallel_api_test")
        try:
            # api_test prints progress and warns about style (all-zero observations, no render()); neither is a
            # failure, and neither may reach a terminal or --json output.
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                test(raw, num_cycles=num_cycles)
        except Exception as e:
            return [Failure(GAME_PETTINGZOO, env, f"PettingZoo's {name} failed: {_assertion(e)}")]
        return []
    finally:
        _close(raw)


def _assertion(e: BaseException) -> str:
    """An assertion's message, or, for a bare `assert`, the line that failed and where."""
    message = " ".join(str(e).split())
    frames = traceback.extract_tb(e.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        path = last.filename.replace("\\", "/")
        path = path.split("site-packages/")[-1] if "site-packages/" in path else "/".join(path.split("/")[-2:])
        where = f"{path}:{last.lineno}"
        if not message or not isinstance(e, AssertionError):
            where += f" `{last.line}`" if last.line else ""
    kind = "" if isinstance(e, AssertionError) else f"{type(e).__name__}: "
    return f"{kind}{message or 'assertion failed'}" + (f" (at {where})" if where else "")


# ---------------------------------------------------------------------------------------------------------------
# Policy checks
# ---------------------------------------------------------------------------------------------------------------
def _resolve_policy(registry: Registry, policy: str) -> None:
    """Raise the user's errors (unknown id, unknown or mistyped parameter) before any check runs."""
    registry.player_id(policy)


def declined(registry: Registry, env: str, policy: str) -> str | None:
    """The one-line reason a policy gives for not playing a game (IncompatiblePolicyError), or None if it plays it
    (or cannot even be asked: check_policy reports that)."""
    return _policy_checks(registry, env, policy, games=0, seed=0)[1]


def check_policy(registry: Registry, env: str, policy: str, *, games: int = 1, seed: int = 0) -> list[Failure]:
    """A policy (a spec: `mcts:simulations=10`) on a game: either it declines the game, in one line naming it, and
    the match runner refuses it; or, in every seat beside `random`, it plays `games` games (seeds seed+seat, ...) with
    only legal moves, moves at least once in each seat, and a fresh instance replays its first game from the seed."""
    return _policy_checks(registry, env, policy, games=games, seed=seed)[0]


def _policy_checks(registry: Registry, env: str, policy: str, *, games: int, seed: int,
                   ) -> tuple[list[Failure], str | None]:
    """(failures, the reason the policy declines the game or None). games=0 only asks whether it declines."""
    _resolve_env(registry, env)
    _resolve_policy(registry, policy)
    subject = f"{policy} on {env}"
    game, failure = _build_game(registry, env)
    if failure is not None:
        return [failure], None
    try:
        return _check_policy(registry, policy, subject, game, games, seed)
    except Exception as e:
        return [Failure(POLICY_PLAY, subject, f"the check itself failed: {_exc(e)}")], None
    finally:
        _close(game)


def _make_policy(registry: Registry, policy: str, subject: str) -> tuple[BoundPolicy | None, Failure | None]:
    try:
        return registry.make_policy(policy), None
    except Exception as e:
        return None, Failure(POLICY_BUILD, subject, f"{_exc(e)}: make the policy build with these parameters")


def _check_policy(registry: Registry, policy: str, subject: str, game: Any, games: int,
                  seed: int) -> tuple[list[Failure], str | None]:
    info = game.info
    bound, failure = _make_policy(registry, policy, subject)
    if failure is not None:
        return [failure], None
    try:
        bound.check(info)
    except IncompatiblePolicyError as e:
        return (_check_decline(registry, subject, game, bound, str(e)) if games else []), str(e)
    except Exception as e:
        return [Failure(POLICY_DECLINE, subject, f"{_exc(e)}: check() must return None or a reason, not raise")], None
    checked = CheckedGame(game)
    failures: list[Failure] = []
    first: MatchResult | None = None
    first_seed = seed
    for seat in range(info.num_seats):
        for g in range(games):
            s = seed + seat + g * info.num_seats
            seated = [registry.make_policy(OPPONENT) for _ in range(info.num_seats)]
            seated[seat] = bound
            result, found = play_checked(checked, seated, s, check=POLICY_PLAY, subject=subject)
            failures += found
            if result is None or found:
                continue
            if not any(ms == seat for ms, _ in result.moves or ()):
                failures.append(Failure(POLICY_PLAY, subject, f"{policy} never moved in seat {seat}", s))
            if first is None and seat == 0:
                first, first_seed = result, s
    if first is not None and not failures:
        fresh, failure = _make_policy(registry, policy, subject)
        if failure is not None:
            return [failure], None
        seated = [fresh] + [registry.make_policy(OPPONENT) for _ in range(info.num_seats - 1)]
        again = play_game(checked, seated, first_seed, record_moves=True)
        if (again.moves, again.returns) != (first.moves, first.returns):
            failures.append(Failure(POLICY_SEEDS, subject, f"a fresh instance in seat 0 played another game from the "
                                    f"same seed ({_first_difference(first, again)}): draw randomness only from the "
                                    "rng argument, and clear per-game state in reset()", first_seed))
    return failures, None


def _check_decline(registry: Registry, subject: str, game: Any, bound: BoundPolicy,
                   message: str) -> list[Failure]:
    info = game.info
    failures = []
    if not message.strip() or "\n" in message:
        failures.append(Failure(POLICY_DECLINE, subject, f"the reason for declining is {message!r}: give one line"))
    if info.env_id not in message:
        failures.append(Failure(POLICY_DECLINE, subject, f"the reason for declining ({message!r}) does not name the "
                                f"game {info.env_id!r}"))
    seated = [bound] + [registry.make_policy(OPPONENT) for _ in range(info.num_seats - 1)]
    try:
        list(play_match(game, seated, 1, 0))
    except IncompatiblePolicyError:
        pass
    else:
        failures.append(Failure(POLICY_DECLINE, subject, "the match runner seated a policy that declines the game: "
                                "check() must say the same thing every time it is asked"))
    return failures


def check_policy_support(registry: Registry, policy: str, envs: Iterable[str]) -> list[Failure]:
    """The policy accepts at least one of `envs` (a policy that declines every game is never played)."""
    _resolve_policy(registry, policy)
    envs = list(envs)
    bound, failure = _make_policy(registry, policy, policy)
    if failure is not None:
        return [failure]
    for env in envs:
        game, failure = _build_game(registry, env)
        if failure is not None:
            continue
        try:
            bound.check(game.info)
        except Exception:
            continue
        finally:
            _close(game)
        return []
    return [Failure(POLICY_SUPPORT, policy, f"declines every one of the {len(envs)} games it was offered, so it "
                    "never plays: check() must accept the games the policy is for")]


# ---------------------------------------------------------------------------------------------------------------
# Everything on one game: what `arena check` runs
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class Report:
    """The outcome of the checks on one subject: the game, or one policy on it."""

    kind: str  # "game" or "policy"
    subject: str  # the env spec, or the policy spec
    status: str  # "passed", "failed", "declined" (a policy that does not play this game) or "skipped"
    checks: list[str]  # the checks that ran, e.g. ["game.play", "game.seeds", "game.pettingzoo_api"]
    failures: list[Failure]
    reason: str | None = None  # why declined or skipped

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.subject, "status": self.status, "checks": self.checks,
                "reason": self.reason, "failures": [f.to_dict() for f in self.failures]}


def check_all(registry: Registry, env: str, policies: Sequence[str] = (OPPONENT,), *, games: int = 2,
              seed: int = 0, on_report: Callable[[Report], None] | None = None) -> list[Report]:
    """The game checks on `env`, then the policy checks of each policy on it: one Report each, in that order, each
    also handed to `on_report` as soon as it is done. Every id is resolved first, so an unknown id or a malformed
    spec raises (an ArenaError) before any game is played."""
    _resolve_env(registry, env)
    for policy in policies:
        _resolve_policy(registry, policy)
    reports: list[Report] = []

    def done(report: Report) -> None:
        reports.append(report)
        if on_report is not None:
            on_report(report)

    failures, ran = _game_checks(registry, env, games=games, seed=seed)
    done(Report("game", env, "failed" if failures else "passed", ran, failures))
    broken = ("the game could not be built" if any(f.check == GAME_BUILD for f in failures) else
              "the game does not play to the end with random players; fix it first"
              if any(f.check in (GAME_INFO, GAME_PLAY) for f in failures) else None)
    for policy in policies:
        if broken:  # every game the policy played would fail the same way
            done(Report("policy", policy, "skipped", [], [], broken))
            continue
        found, reason = _policy_checks(registry, env, policy, games=games, seed=seed)
        status = "failed" if found else "declined" if reason else "passed"
        checks = [POLICY_DECLINE] if reason else [POLICY_PLAY, POLICY_SEEDS]
        done(Report("policy", policy, status, checks, found, reason))
    return reports
