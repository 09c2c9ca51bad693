"""The game and policy checks themselves, and check_all for `arena check` (see arena.testing)."""
from __future__ import annotations

import contextlib
import io
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from arena.errors import ArenaError, IncompatiblePolicyError
from arena.match import play_game, play_match
from arena.policy import BoundPolicy
from arena.registry import Registry, parse_spec
from arena.testing.core import (GAME_BUILD, GAME_INFO, GAME_PETTINGZOO, GAME_PLAY, GAME_SEEDS, OPPONENT,
                                POLICY_BUILD, POLICY_DECLINE, POLICY_PLAY, POLICY_SEEDS, POLICY_SUPPORT, CheckedGame,
                                Failure, _build_game, _close, _exc, _first_difference, _resolve_env, is_pettingzoo,
                                play_checked, raw_env)
from arena.types import MatchResult


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
