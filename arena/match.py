"""The match runner: plays games between policies, with forfeits for illegal moves, exceptions and timeouts."""
from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from arena.errors import ArenaError, Forfeit, UsageError
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
                    legal_now: Sequence[Sequence[int]] | None = None,
                    clock: Callable[[], float | None] | None = None) -> Callable[[str], Callable[[], Any]]:
    """For one seat: name -> zero-argument getter of what a policy may ask for (policy.ACT_ARGUMENTS).

    `moves` is the game's (seat, action) list, read live; `legal_now`, when given, caches each seat's legal moves
    for the current turn (the runner fetches them once to check the action too); `clock()` is the seat's time
    for this move (None: unlimited).
    """

    def get(name: str) -> Callable[[], Any]:
        if name == "time_left":
            return clock if clock is not None else (lambda: None)
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
              move_timeout: float | None = None, opening: Sequence[int] = (), game_timeout: float | None = None,
              _streams: _Streams | None = None) -> MatchResult:
    """Play one game, policies[i] in seat i. The same seed and policies give the same game.

    `opening` (actions, see arena.openings) is played right after the reset, before any policy is bound or acts;
    its moves count in the result's moves and length.
    A policy's failure forfeits its seat. A failure of the game itself gives a result with `error`
    set and no outcome, so a long run goes on and the failure is kept. `move_timeout` bounds each move and
    `game_timeout` each player's thinking time over the whole game (a chess clock without increment); running past
    either forfeits.
    """
    opening = tuple(opening)
    loop = _play(game, policies, seed, record_moves, move_timeout, _streams, batching=False, opening=opening,
                 game_timeout=game_timeout)
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
          _streams: _Streams | None, batching: bool, opening: tuple[int, ...] = (),
          game_timeout: float | None = None) -> GameLoop:
    """The game loop. With `batching`, a seat whose policy acts in batches is asked for through a MoveRequest.

    `policies` hold one policy per seat, or one per team of a game with teams: then each policy acts for every
    teammate, from that teammate's own observation, and the result has one seat per team (see team_result)."""
    info = game.info
    n = info.num_seats
    if info.match_seats(len(policies)) is None:
        raise UsageError(f"{info.env_id} has {info.seat_help()}; {len(policies)} policies were given.")
    by_team = len(policies) != n  # one policy per team
    owner = [0] * n  # the policy (match seat) of each game seat
    for t, team in enumerate(info.teams if by_team else ()):
        for s in team:
            owner[s] = t
    if not by_team:
        owner = list(range(n))
    started = time.perf_counter()
    reuse = _streams is not None and len(_streams.rngs) == len(policies)
    streams = _streams if reuse else _Streams(len(policies))  # type: ignore[assignment]
    game.reset(streams.reseed(seed))
    # teammates played by one policy draw from their own generators, split off the team's
    rngs = streams.rngs if not by_team else [np.random.default_rng([int(streams.rngs[owner[s]].integers(2**63)), s])
                                             for s in range(n)]
    moves: list[tuple[int, Any]] = []
    if opening:
        play_opening(game, opening, moves)
    forfeits: dict[int, str] = {}
    legal_now: list[Sequence[int]] = [()] * n  # each seat's legal moves this turn, fetched once
    boxes = [info.action_spaces[s] if info.continuous(s) else None for s in range(n)]
    used = [0.0] * len(policies)  # each player's thinking time so far (counted with a game clock)

    def time_left(seat: int) -> float | None:
        left = None if game_timeout is None else max(0.0, game_timeout - used[owner[seat]])
        return move_timeout if left is None else left if move_timeout is None else min(left, move_timeout)

    def getter(seat: int) -> Callable[[str], Callable[[], Any]]:
        return argument_getter(game, seat, rngs[seat], moves, legal_now, lambda: time_left(seat))

    acts = []
    seat_policies = [policies[owner[s]] for s in range(n)]
    # a policy grouped across games (remote agents) acts one move at a time under a game clock, which then times
    # exactly its own thinking
    batched = [batching and p.batchable and not (p.grouped and game_timeout is not None) for p in seat_policies]
    reset_done: set[int] = set()
    for seat, policy in enumerate(seat_policies):
        act, reset = policy.bind(getter(seat))
        acts.append(act)
        if reset is None or (by_team and id(policy) in reset_done):
            continue
        reset_done.add(id(policy))
        legal_now[seat] = game.legal_actions(seat) if seat in game.to_move() else ()
        try:
            _call(reset, move_timeout)
        except _MoveTimeout:
            forfeits[seat] = f"reset timed out after {move_timeout}s"
        except Forfeit as e:
            forfeits[seat] = f"reset: {e}"
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
                action = yield MoveRequest(seat_policies[seat], seat,
                                           {k: get(k)() for k in seat_policies[seat].act_call.names})
                if isinstance(action, str):
                    forfeits[seat] = action
                    continue
            elif game_timeout is None:
                action = _move(acts[seat], seat, move_timeout, forfeits)
                if seat in forfeits:
                    continue
            else:  # on the game clock: the move is charged to its player
                started_move, player = time.perf_counter(), owner[seat]
                action = _move(acts[seat], seat, time_left(seat), forfeits)
                used[player] += time.perf_counter() - started_move
                late = forfeits.get(seat, "").startswith("timed out") and used[player] >= game_timeout - 1e-3
                if late or (seat not in forfeits and used[player] > game_timeout):
                    forfeits[seat] = f"ran out of its {game_timeout:g}s for the game"
                if seat in forfeits:
                    continue
            if boxes[seat] is not None:
                checked = box_action(action, boxes[seat])
                if isinstance(checked, str):
                    forfeits[seat] = checked
                else:
                    actions[seat] = checked
            elif (type(action) is int or isinstance(action, np.integer)) and action in legal:
                actions[seat] = action if type(action) is int else int(action)
            else:
                forfeits[seat] = f"illegal action {action!r}"
        if forfeits:
            break
        step(actions)
        record((s, a.tolist() if boxes[s] is not None else a) for s, a in actions.items())
    returns = game.returns()
    result = MatchResult(
        env_id=info.env_id,
        seed=seed,
        players=tuple(p.player_id for p in seat_policies),
        returns=returns,
        ranks=ranks_from_returns(returns, forfeits, info.draw_margin),
        length=len(moves),
        forfeits=forfeits,
        moves=tuple(moves) if record_moves else None,
        duration_s=time.perf_counter() - started,
        opening=opening,
        trajectory=tuple(moves),
        deterministic=_deterministic(game),
    )
    if info.teams and len(info.teams) < n:
        result = team_result(result, info.teams, info.team_names, info.draw_margin, by_team)
    told: set[int] = set()
    for player, policy in enumerate(policies):
        if policy.game_over is not None and id(policy) not in told:
            told.add(id(policy))
            try:
                policy.game_over(player, result)
            except Exception:  # a courtesy: the game is decided, and a policy that fails here fails its next game
                pass
    return result


def _move(act: Callable[[], Any], seat: int, limit: float | None, forfeits: dict[int, str]) -> Any:
    """One move of a policy that acts alone: the action, or None with the seat's forfeit recorded."""
    try:
        return act() if limit is None else _call(act, limit)
    except _MoveTimeout:
        forfeits[seat] = f"timed out after {limit}s"
    except Forfeit as e:
        forfeits[seat] = str(e)
    except Exception as e:
        forfeits[seat] = f"raised {type(e).__name__}: {e}"
    return None


def box_action(action: Any, space: Any) -> np.ndarray | str:
    """A continuous action checked against its Box: the array (clipped into the bounds), or why it is illegal."""
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        return f"illegal action {action!r}: not an array of numbers"
    if a.shape != space.shape:
        return f"illegal action: shape {a.shape}, where the action space is {space.shape}"
    if not np.all(np.isfinite(a)):
        return f"illegal action {a.tolist()}: not finite"
    return np.clip(a, space.low, space.high).astype(space.dtype)


def team_result(result: MatchResult, teams: Sequence[Sequence[int]], names: Sequence[str], margin: float,
                by_team: bool) -> MatchResult:
    """A game with teams, ranked by team: a team's return is its members' mean return, teams rank by it (within
    `margin`: a draw), and a team with a member that forfeited ranks last. With `by_team` (one player per team) the
    result has one seat per team; otherwise one seat per game seat, each with its team's rank (result.teams)."""
    team_returns = tuple(float(np.mean([result.returns[s] for s in team])) for team in teams)
    team_forfeits = {}
    for t, team in enumerate(teams):
        why = [f"{names[t]} seat {s}: {result.forfeits[s]}" if by_team else result.forfeits[s]
               for s in team if s in result.forfeits]
        if why:
            team_forfeits[t] = "; ".join(why)
    team_ranks = ranks_from_returns(team_returns, team_forfeits, margin)
    if by_team:
        return dataclasses.replace(result, players=tuple(result.players[team[0]] for team in teams),
                                   returns=team_returns, ranks=team_ranks, forfeits=team_forfeits)
    side = [0] * len(result.players)
    for t, team in enumerate(teams):
        for s in team:
            side[s] = t
    forfeits = {s: result.forfeits.get(s, team_forfeits[side[s]]) for s in range(len(side)) if side[s] in team_forfeits}
    return dataclasses.replace(result, ranks=tuple(team_ranks[side[s]] for s in range(len(side))),
                               forfeits=forfeits, teams=tuple(side))


def _deterministic(game: Game) -> bool:
    """Whether the moves alone make the game: no chance, no hidden information (the adapters' opening support)."""
    support = getattr(game, "opening_support", None)
    return callable(support) and support() is None


def play_lockstep(tables: Sequence[tuple[Any, ...]], *, record_moves: bool = False,
                  move_timeout: float | None = None, game_timeout: float | None = None
                  ) -> Iterator[tuple[int, MatchResult]]:
    """Play several games at once, each (game, policies by seat, seed[, opening]) on its own Game object; yields
    (index, result).

    Each turn, the moves every batching policy owes across the games go to its act_batch in one call, so a learned
    policy runs one forward pass for many boards. A game's moves are those play_game would make with the same
    seed. A batch that fails or runs past move_timeout times its size forfeits each seat it was asked for.
    The game clock (game_timeout) counts the policies that act one move at a time; a batch is bounded by
    move_timeout alone.
    """
    loops: dict[int, GameLoop] = {}
    waiting: dict[int, MoveRequest] = {}
    answers: dict[int, Outcome | None] = {}
    openings = [tuple(table[3]) if len(table) > 3 else () for table in tables]
    for i, (game, policies, seed, *_) in enumerate(tables):
        loops[i] = _play(game, policies, seed, record_moves, move_timeout, None, batching=True, opening=openings[i],
                         game_timeout=game_timeout)
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
        by_policy: dict[Any, list[int]] = {}
        for i, request in waiting.items():
            policy = request.policy
            by_policy.setdefault(type(policy.obj) if policy.grouped else id(policy.obj), []).append(i)
        for games in by_policy.values():
            policy = waiting[games[0]].policy
            calls = [waiting[i].args for i in games]
            budget = None if move_timeout is None else move_timeout * len(calls)
            try:
                if policy.grouped:
                    objs = [waiting[i].policy.obj for i in games]
                    actions = list(_call(lambda: type(policy.obj).act_group(objs, calls), budget))
                    actions = [str(a) if isinstance(a, Forfeit) else
                               f"raised {type(a).__name__}: {a}" if isinstance(a, Exception) else a for a in actions]
                else:
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


def seat_orders(allowed: Sequence[Sequence[int] | None], games: int) -> list[tuple[int, ...]]:
    """`seat_order` of each game, keeping only the rotations that put every participant in a seat it can play
    (`allowed[j]`: participant j's seats, None for any); the kept ones take turns. [] when none fits."""
    n = len(allowed)
    fits = [order for order in (seat_order(n, k) for k in range(n))
            if all(allowed[j] is None or seat in allowed[j] for seat, j in enumerate(order))]  # type: ignore[operator]
    if len(fits) == n:
        return [seat_order(n, i) for i in range(games)]
    return [fits[i % len(fits)] for i in range(games)] if fits else []


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
    streams = _Streams(len(participants))
    for index in range(games):
        order = seat_order(len(participants), index)
        result = play_game(game, [participants[i] for i in order], game_seed(seed, index),
                           record_moves=record_moves, move_timeout=move_timeout,
                           opening=opening_of(openings, index, len(participants)), _streams=streams)
        yield order, result
