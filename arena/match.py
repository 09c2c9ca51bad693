"""The match runner: plays games between policies, with forfeits for illegal moves, exceptions and timeouts."""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from arena.errors import UsageError
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


def game_seed(match_seed: int, index: int) -> int:
    """The seed of game `index` of a match: independent of how many games run, or where."""
    return int(np.random.SeedSequence(entropy=match_seed, spawn_key=(index,)).generate_state(1)[0])


def play_game(game: Game, policies: Sequence[BoundPolicy], seed: int, *, record_moves: bool = False,
              move_timeout: float | None = None) -> MatchResult:
    """Play one game, policies[i] in seat i. The same seed and policies give the same game."""
    info = game.info
    if len(policies) != info.num_seats:
        raise UsageError(f"{info.env_id} has {info.num_seats} seats but {len(policies)} policies were given.")
    started = time.perf_counter()
    seq = np.random.SeedSequence(seed)
    rngs = [np.random.default_rng(s) for s in seq.spawn(info.num_seats)]
    game.reset(int(seq.generate_state(1)[0]))
    moves: list[tuple[int, int]] = []
    forfeits: dict[int, str] = {}
    getters: dict[str, Callable[[int], Any]] = {
        "observation": game.observation,
        "action_mask": game.action_mask,
        "legal_actions": game.legal_actions,
        "state": lambda s: game.native_state(),
        "seat": lambda s: s,
        "rng": lambda s: rngs[s],
        "history": lambda s: tuple(moves),
        "game": lambda s: info,
    }

    def provider(seat: int) -> Callable[[str], Any]:
        return lambda name: getters[name](seat)

    providers = [provider(s) for s in range(info.num_seats)]
    for seat, policy in enumerate(policies):
        try:
            _call(lambda: policy.reset(providers[seat]), move_timeout)
        except _MoveTimeout:
            forfeits[seat] = f"reset timed out after {move_timeout}s"
        except Exception as e:
            forfeits[seat] = f"reset raised {type(e).__name__}: {e}"
    length = 0
    while not forfeits and not game.is_over():
        actions = {}
        for seat in game.to_move():
            policy = policies[seat]
            try:
                action = _call(lambda: policy.act(providers[seat]), move_timeout)
            except _MoveTimeout:
                forfeits[seat] = f"timed out after {move_timeout}s"
                continue
            except Exception as e:
                forfeits[seat] = f"raised {type(e).__name__}: {e}"
                continue
            if isinstance(action, (int, np.integer)) and not isinstance(action, bool) \
                    and action in game.legal_actions(seat):
                actions[seat] = int(action)
            else:
                forfeits[seat] = f"illegal action {action!r}"
        if forfeits:
            break
        game.step(actions)
        length += len(actions)
        moves.extend(sorted(actions.items()))
    returns = game.returns()
    return MatchResult(
        env_id=info.env_id,
        seed=seed,
        players=tuple(p.player_id for p in policies),
        returns=returns,
        ranks=ranks_from_returns(returns, forfeits),
        length=length,
        forfeits=forfeits,
        moves=tuple(moves) if record_moves else None,
        duration_s=time.perf_counter() - started,
    )


def seat_order(num_participants: int, index: int) -> tuple[int, ...]:
    """Which participant sits in each seat in game `index`: a rotation, so every participant takes every seat in turn."""
    shift = index % num_participants
    return tuple((seat + shift) % num_participants for seat in range(num_participants))


def play_match(game: Game, participants: Sequence[BoundPolicy], games: int, seed: int, *,
               record_moves: bool = False, move_timeout: float | None = None,
               ) -> Iterator[tuple[tuple[int, ...], MatchResult]]:
    """Play `games` games with rotating seats; yields (participant index by seat, result) as each game ends."""
    for policy in participants:
        policy.check(game.info)
    for index in range(games):
        order = seat_order(len(participants), index)
        result = play_game(game, [participants[i] for i in order], game_seed(seed, index),
                           record_moves=record_moves, move_timeout=move_timeout)
        yield order, result
