"""The match runner: plays games between policies, with forfeits for illegal moves, exceptions and timeouts."""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from arena.errors import ArenaError, UsageError
from arena.openings import play as play_opening
from arena.policy import BoundPolicy
from arena.protocols import Game
from arena.types import MatchResult, ranks_from_returns


class _MoveTimeout(BaseException):
    """Raised inside a policy that ran past its move time; a BaseException so a policy's `except Exception` misses it."""


def _raise_timeout(signum: int, frame: Any) -> None:
    raise _MoveTimeout


def _call(fn: Callable[[], Any], timeout: float | None) -> Any:
    """fn(), interrupted by SIGALRM after `timeout` seconds when on the main thread, and checked by the clock anyway."""
    if timeout is None:
        return fn()
    start = time.perf_counter()
    armed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if armed:
        previous = signal.signal(signal.SIGALRM, _raise_timeout)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        result = fn()
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if time.perf_counter() - start > timeout:
        raise _MoveTimeout
    return result


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> tuple[int, int]:
    """One step of splitmix64: (next state, 64-bit output). Spreads even small seeds over the whole range."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x, z ^ (z >> 31)


def game_seed(match_seed: int, index: int) -> int:
    """The seed of game `index` of a match: independent of how many games run, or where; 63 bits."""
    _, mixed = _splitmix64(int(match_seed) & _MASK64)
    return _splitmix64((mixed + int(index)) & _MASK64)[1] >> 1


class _Streams:
    """Per-seat generators, reseeded for each game from its seed (cheaper than new SeedSequences per game)."""

    def __init__(self, seats: int):
        self.rngs = [np.random.Generator(np.random.PCG64(0)) for _ in range(seats)]

    def reseed(self, seed: int) -> int:
        """Seed every seat's generator from `seed`; returns the seed for the game itself."""
        x = int(seed) & _MASK64
        for rng in self.rngs:
            x, hi = _splitmix64(x)
            x, lo = _splitmix64(x)
            x, inc = _splitmix64(x)
            rng.bit_generator.state = {"bit_generator": "PCG64", "state": {"state": (hi << 64) | lo, "inc": inc | 1},
                                       "has_uint32": 0, "uinteger": 0}
        return _splitmix64(x)[1] >> 33  # a 31-bit seed for the game's own chance events


def argument_getter(game: Game, seat: int, rng: np.random.Generator, moves: Sequence[tuple[int, int]],
                    legal_now: Sequence[Sequence[int]] | None = None) -> Callable[[str], Callable[[], Any]]:
    """For one seat: name -> zero-argument getter of what a policy may ask for (policy.ACT_ARGUMENTS).

    `moves` is the game's (seat, action) list, read live; `legal_now`, when given, caches each seat's legal moves
    for the current turn (the runner fetches them once to check the action too).
    """

    def get(name: str) -> Callable[[], Any]:
        if name == "legal_actions":
            return (lambda: legal_now[seat]) if legal_now is not None else (lambda: game.legal_actions(seat))
        if name in ("observation", "action_mask"):
            fn = getattr(game, name)
            return lambda: fn(seat)
        constant = {"seat": seat, "rng": rng, "game": game.info}
        if name in constant:
            value = constant[name]
            return lambda: value
        return {"state": game.native_state, "history": lambda: tuple(moves)}[name]

    return get


@dataclass
class MoveRequest:
    """A move the game loop hands to its driver: a batching policy's arguments, answered by an action or a reason."""

    policy: BoundPolicy
    seat: int
    args: dict[str, Any]


Outcome = Union[int, str]  # an action, or why the seat forfeits
GameLoop = Generator[MoveRequest, Outcome, MatchResult]


def play_game(game: Game, policies: Sequence[BoundPolicy], seed: int, *, record_moves: bool = False,
              move_timeout: float | None = None, opening: Sequence[int] = (),
              _streams: _Streams | None = None) -> MatchResult:
    """Play one game, policies[i] in seat i. The same seed and policies give the same game.

    `opening` (actions, see arena.openings) is played right after the reset, before any policy is bound or acts;
    its moves count in the result's moves and length.
    A policy's failure forfeits its seat. A failure of the game itself gives a result with `error`
    set and no outcome, so a long run goes on and the failure is kept.
    """
    opening = tuple(opening)
    loop = _play(game, policies, seed, record_moves, move_timeout, _streams, batching=False, opening=opening)
    return _advance(loop, None, game, policies, seed, opening)  # type: ignore[return-value]  # never asks without batching


def _advance(loop: GameLoop, outcome: Outcome | None, game: Game, policies: Sequence[BoundPolicy],
             seed: int, opening: tuple[int, ...] = ()) -> MoveRequest | MatchResult:
    """Run a game loop to its next request or its result; the game's own failure becomes an error result."""
    try:
        return next(loop) if outcome is None else loop.send(outcome)
    except StopIteration as done:
        return done.value
    except ArenaError:
        raise
    except Exception as e:
        n = game.info.num_seats
        return MatchResult(game.info.env_id, seed, tuple(p.player_id for p in policies), (0.0,) * n, (0,) * n, 0,
                           error=f"{game.info.env_id} failed during play: {type(e).__name__}: {e}", opening=opening)


def _play(game: Game, policies: Sequence[BoundPolicy], seed: int, record_moves: bool, move_timeout: float | None,
          _streams: _Streams | None, batching: bool, opening: tuple[int, ...] = ()) -> GameLoop:
    """The game loop. With `batching`, a seat whose policy acts in batches is asked for through a MoveRequest."""
    info = game.info
    n = info.num_seats
    if len(policies) != n:
        raise UsageError(f"{info.env_id} has {n} seats but {len(policies)} policies were given.")
    started = time.perf_counter()
    streams = _streams or _Streams(n)
    game.reset(streams.reseed(seed))
    moves: list[tuple[int, int]] = []
    if opening:
        play_opening(game, opening, moves)
    forfeits: dict[int, str] = {}
    legal_now: list[Sequence[int]] = [()] * n  # each seat's legal moves this turn, fetched once

    def getter(seat: int) -> Callable[[str], Callable[[], Any]]:
        return argument_getter(game, seat, streams.rngs[seat], moves, legal_now)

    acts = []
    batched = [batching and p.batchable for p in policies]
    for seat, policy in enumerate(policies):
        act, reset = policy.bind(getter(seat))
        acts.append(act)
        if reset is None:
            continue
        legal_now[seat] = game.legal_actions(seat) if seat in game.to_move() else ()
        try:
            _call(reset, move_timeout)
        except _MoveTimeout:
            forfeits[seat] = f"reset timed out after {move_timeout}s"
        except Exception as e:
            forfeits[seat] = f"reset raised {type(e).__name__}: {e}"
    to_move, legal_actions, step, record = game.to_move, game.legal_actions, game.step, moves.extend
    while not forfeits:
        movers = to_move()
        if not movers:
            break
        actions = {}
        for seat in movers:
            legal = legal_now[seat] = legal_actions(seat)
            if batched[seat]:
                get = getter(seat)
                action = yield MoveRequest(policies[seat], seat, {k: get(k)() for k in policies[seat].act_call.names})
                if isinstance(action, str):
                    forfeits[seat] = action
                    continue
            else:
                try:
                    action = acts[seat]() if move_timeout is None else _call(acts[seat], move_timeout)
                except _MoveTimeout:
                    forfeits[seat] = f"timed out after {move_timeout}s"
                    continue
                except Exception as e:
                    forfeits[seat] = f"raised {type(e).__name__}: {e}"
                    continue
            if (type(action) is int or isinstance(action, np.integer)) and action in legal:
                actions[seat] = action if type(action) is int else int(action)
            else:
                forfeits[seat] = f"illegal action {action!r}"
        if forfeits:
            break
        step(actions)
        record(actions.items())
    returns = game.returns()
    return MatchResult(
        env_id=info.env_id,
        seed=seed,
        players=tuple(p.player_id for p in policies),
        returns=returns,
        ranks=ranks_from_returns(returns, forfeits),
        length=len(moves),
        forfeits=forfeits,
        moves=tuple(moves) if record_moves else None,
        duration_s=time.perf_counter() - started,
        opening=opening,
        trajectory=tuple(moves),
        deterministic=_deterministic(game),
    )


def _deterministic(game: Game) -> bool:
    """Whether the moves alone make the game: no chance, no hidden information (the adapters' opening support)."""
    support = getattr(game, "opening_support", None)
    return callable(support) and support() is None


def play_lockstep(tables: Sequence[tuple[Any, ...]], *, record_moves: bool = False,
                  move_timeout: float | None = None) -> Iterator[tuple[int, MatchResult]]:
    """Play several games at once, each (game, policies by seat, seed[, opening]) on its own Game object; yields
    (index, result).

    Each turn, the moves every batching policy owes across the games go to its act_batch in one call, so a learned
    policy runs one forward pass for many boards. A game's moves are those play_game would make with the same
    seed. A batch that fails or runs past move_timeout times its size forfeits each seat it was asked for.
    """
    loops: dict[int, GameLoop] = {}
    waiting: dict[int, MoveRequest] = {}
    answers: dict[int, Outcome | None] = {}
    openings = [tuple(table[3]) if len(table) > 3 else () for table in tables]
    for i, (game, policies, seed, *_) in enumerate(tables):
        loops[i] = _play(game, policies, seed, record_moves, move_timeout, None, batching=True, opening=openings[i])
        answers[i] = None
    while answers:
        for i, outcome in answers.items():
            game, policies, seed, *_ = tables[i]
            step = _advance(loops[i], outcome, game, policies, seed, openings[i])
            if isinstance(step, MatchResult):
                del loops[i]
                yield i, step
            else:
                waiting[i] = step
        answers = {}
        by_policy: dict[int, list[int]] = {}
        for i, request in waiting.items():
            by_policy.setdefault(id(request.policy.obj), []).append(i)
        for games in by_policy.values():
            policy = waiting[games[0]].policy
            calls = [waiting[i].args for i in games]
            budget = None if move_timeout is None else move_timeout * len(calls)
            try:
                actions = list(_call(lambda: policy.obj.act_batch(calls), budget))
                if len(actions) != len(calls):
                    raise ValueError(f"act_batch returned {len(actions)} actions for {len(calls)} moves")
                answers.update(zip(games, actions))
            except _MoveTimeout:
                answers.update((i, f"batch of {len(calls)} moves timed out after {budget}s") for i in games)
            except Exception as e:
                answers.update((i, f"raised {type(e).__name__}: {e}") for i in games)
        waiting.clear()


def seat_order(num_participants: int, index: int) -> tuple[int, ...]:
    """Which participant sits in each seat in game `index`: a rotation, so every participant takes every seat in turn."""
    shift = index % num_participants
    return tuple((seat + shift) % num_participants for seat in range(num_participants))


def opening_of(openings: Sequence[Sequence[int]] | None, index: int, seats: int) -> tuple[int, ...]:
    """The opening of game `index`: one opening per full seat rotation (games 2k and 2k+1 share one in 1v1)."""
    return tuple(openings[index // seats]) if openings else ()


def play_match(game: Game, participants: Sequence[BoundPolicy], games: int, seed: int, *,
               record_moves: bool = False, move_timeout: float | None = None,
               openings: Sequence[Sequence[int]] | None = None,
               ) -> Iterator[tuple[tuple[int, ...], MatchResult]]:
    """Play `games` games with rotating seats; yields (participant index by seat, result) as each game ends.

    With `openings`, game i starts from openings[i // seats] (arena.openings.Book makes them)."""
    for policy in participants:
        policy.check(game.info)
    streams = _Streams(game.info.num_seats)
    for index in range(games):
        order = seat_order(len(participants), index)
        result = play_game(game, [participants[i] for i in order], game_seed(seed, index),
                           record_moves=record_moves, move_timeout=move_timeout,
                           opening=opening_of(openings, index, len(participants)), _streams=streams)
        yield order, result
