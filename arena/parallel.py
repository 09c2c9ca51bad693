"""Match play on many workers: games go out in fixed chunks and come back in order, whatever the number of workers.

A game is a GameJob (env spec, a policy spec per seat, seed, opening actions), so any process can rebuild it from plugins. Jobs are
cut into chunks of CHUNK consecutive games; a worker plays a chunk in lockstep (play_lockstep), so a learned
snapshot runs one forward pass for all the chunk's boards that wait on it. Since the chunks do not depend on the
worker count and each game is seeded on its own, the games are the same with 1 worker or 8, and results are
yielded in job order, so stores and ratings come out the same too.

Backends: this process (workers=1), worker processes on this machine, or Ray actors (plugins/ray_workers.py) when
a Ray address is given. A worker that dies loses only its games in flight: they are played again on a fresh
worker, up to `retries` times, then recorded as errors. On Ray, games lost with a whole node are played again on
the nodes left, however often that happens.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from arena.errors import ArenaError, PluginError
from arena.match import play_lockstep
from arena.types import MatchResult

CHUNK = 8  # games a worker plays at once; fixed, so batches (and results) do not depend on the worker count


@dataclass(frozen=True)
class GameJob:
    """One game to play: results come back in `index` order."""

    index: int
    env: str
    players: tuple[str, ...]  # a policy spec per seat
    seed: int
    opening: tuple[int, ...] = ()  # actions played from the start before the policies act (arena.openings)
    order: tuple[int, ...] = ()  # which participant of its match sits in each seat (arena.match.seat_orders)


@dataclass(frozen=True)
class PlayOptions:
    record_moves: bool = False
    move_timeout: float | None = None
    game_timeout: float | None = None  # each player's thinking time over a game (arena.match.play_game)


@dataclass
class Placement:
    """Where Ray play ran each game, for reports (run_games fills one when given; other backends leave it empty).

    Nodes are named by IP (with the start of the node id where two nodes share an IP)."""

    played: dict[int, str] = field(default_factory=dict)  # game index -> the node that played it to the end
    lost: dict[int, list[str]] = field(default_factory=dict)  # game index -> nodes where a try was lost with its actor


def chunks(jobs: Sequence[GameJob]) -> list[list[GameJob]]:
    return [list(jobs[i:i + CHUNK]) for i in range(0, len(jobs), CHUNK)]


class ChunkPlayer:
    """Builds games and policies from their specs once per worker and plays chunks of jobs.

    A policy that batches and keeps no per-game state (no reset) is shared by all games of a chunk, so its moves
    are batched; any other policy gets an instance per (game slot, seat), as if each game were played alone.
    """

    def __init__(self, registry: Any = None):
        if registry is None:
            from arena.registry import Registry

            registry = Registry()
        self.reg = registry
        self.policies: dict[tuple[str, int, int], Any] = {}
        self.games: dict[str, list[Any]] = {}

    def policy(self, spec: str, slot: int, seat: int) -> Any:
        shared = self.policies.get((spec, -1, -1))
        if shared is not None:
            return shared
        key = (spec, slot, seat)
        if key not in self.policies:
            policy = self.reg.make_policy(spec)
            if policy.batchable and policy.resets is False:
                key = (spec, -1, -1)
            policy.start()  # a remote agent starts here, outside any game's clock
            self.policies[key] = policy
        return self.policies[key]

    def play(self, jobs: Sequence[GameJob], options: PlayOptions) -> Iterator[tuple[GameJob, MatchResult]]:
        """Yields (job, result) as each game of the chunk ends; each game gets its own Game object."""
        used: dict[str, int] = {}
        tables = []
        for job in jobs:
            games = self.games.setdefault(job.env, [])
            k = used[job.env] = used.get(job.env, 0) + 1
            if len(games) < k:
                games.append(self.reg.make_game(job.env))
            tables.append((games[k - 1], [self.policy(p, k, seat) for seat, p in enumerate(job.players)], job.seed,
                           job.opening))
        for i, result in play_lockstep(tables, record_moves=options.record_moves, move_timeout=options.move_timeout,
                                       game_timeout=options.game_timeout):
            yield jobs[i], result

    def close(self) -> None:
        """Close the games, and the policies that hold something (a remote agent's process)."""
        for games in self.games.values():
            for game in games:
                game.close()
        for policy in self.policies.values():
            policy.close()
        self.policies.clear()


def crashed(job: GameJob, why: str) -> MatchResult:
    n = len(job.players)
    return MatchResult(job.env, job.seed, job.players, (0.0,) * n, (0,) * n, 0, error=why, opening=job.opening)


def plays_in_process(workers: int = 1, ray_address: str | None = None) -> bool:
    """Whether run_games plays in this process (where a plugin that aborts takes the caller down with it)."""
    return ray_address is None and workers <= 1


def run_games(jobs: Sequence[GameJob], *, workers: int = 1, ray_address: str | None = None,
              options: PlayOptions = PlayOptions(), retries: int = 1, registry: Any = None,
              placement: Placement | None = None) -> Iterator[tuple[GameJob, MatchResult]]:
    """Play the jobs; yields (job, result) in job order as soon as every earlier game has finished.

    Stop iterating to cancel: workers are shut down and games not yet yielded are dropped. On Ray, `placement`
    (when given) is filled with the node each game was played on.
    """
    if ray_address is not None:
        from arena.plugins.ray_workers import ray_stream  # Ray stays out of the core until asked for

        stream = ray_stream(chunks(jobs), workers, ray_address, options, retries, placement)
    elif plays_in_process(workers):
        stream = _local_stream(jobs, options, registry)
    else:
        stream = _process_stream(chunks(jobs), workers, options, retries)
    return _in_order(stream, [j.index for j in jobs])


def _in_order(stream: Generator[tuple[GameJob, MatchResult], None, None],
              order: list[int]) -> Iterator[tuple[GameJob, MatchResult]]:
    done: dict[int, tuple[GameJob, MatchResult]] = {}
    position = 0
    try:
        for job, result in stream:
            done[job.index] = (job, result)
            while position < len(order) and order[position] in done:
                yield done.pop(order[position])
                position += 1
    finally:
        stream.close()  # shuts its workers down


def _local_stream(jobs: Sequence[GameJob], options: PlayOptions, registry: Any) -> Iterator[tuple[GameJob, MatchResult]]:
    player = ChunkPlayer(registry)
    try:
        for chunk in chunks(jobs):
            yield from player.play(chunk, options)
    finally:
        player.close()


# -- worker processes -------------------------------------------------------------------------------------------
def _worker_main(conn: Connection, options: PlayOptions) -> None:
    """A worker process: plays each chunk it receives, sending every result back as its game ends."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads: one thread per worker, or they fight
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it shuts workers down
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # so is SIGTERM (sent to the whole group by `timeout`)
    try:
        player = ChunkPlayer()
        try:
            while True:
                chunk = conn.recv()
                if chunk is None:
                    break
                for job, result in player.play(chunk, options):
                    conn.send(("result", None, (job, result)))
        finally:
            player.close()
    except ArenaError as e:  # e.g. a policy that cannot be built here: the same error the parent would raise
        conn.send(("fail", e.exit_code, str(e)))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    except Exception as e:  # a plugin that breaks outside any one game: report it, the parent stops
        conn.send(("fail", PluginError.exit_code, f"a match worker failed: {type(e).__name__}: {e}"))


class WorkerError(ArenaError):
    """An error a worker raised outside any one game, with the exit code it carried there."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class _Worker:
    def __init__(self, ctx: Any, options: PlayOptions):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, options), daemon=True, name="arena-match-worker")
        self.process.start()
        child.close()
        self.inflight: dict[int, GameJob] = {}

    def give(self, chunk: list[GameJob]) -> bool:
        try:
            self.conn.send(chunk)
        except OSError:  # it died while idle
            return False
        self.inflight = {job.index: job for job in chunk}
        return True

    def receive(self) -> Iterator[tuple[GameJob, MatchResult]]:
        """The results waiting in the pipe; raises EOFError or OSError once the worker is gone."""
        while True:
            kind, code, payload = self.conn.recv()
            if kind == "fail":
                raise WorkerError(payload, code)
            job, result = payload
            del self.inflight[job.index]
            yield job, result
            if not self.conn.poll():
                return


def _stop(pool: list[_Worker]) -> None:
    """Ask every worker to exit, then wait for all of them together (at most 2 s), killing any that linger."""
    import time

    for w in pool:
        try:
            w.conn.send(None)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 2
    for w in pool:
        w.process.join(timeout=max(0.0, deadline - time.monotonic()))
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
        w.conn.close()


def _process_stream(todo_chunks: list[list[GameJob]], workers: int, options: PlayOptions,
                    retries: int) -> Iterator[tuple[GameJob, MatchResult]]:
    """Chunks to a pool of worker processes. The games a dead worker had in flight are played again one by one
    (so one game that kills its worker takes no other game with it), up to `retries` times each."""
    ctx = multiprocessing.get_context("spawn")  # no forked copies of torch or Ray state
    queue: deque[list[GameJob]] = deque(todo_chunks)
    attempts: dict[int, int] = {}
    starts = 0
    pool = [_Worker(ctx, options) for _ in range(min(workers, len(queue)) or 1)]
    try:
        while queue or any(w.inflight for w in pool):
            for i, w in enumerate(pool):
                if w.inflight or not queue:
                    continue
                chunk = queue.popleft()
                if not w.give(chunk):  # it died while idle: a fresh worker takes the chunk next time round
                    queue.appendleft(chunk)
                    pool[i] = _Worker(ctx, options)
                    starts += 1
                    if starts > 3 * len(pool):
                        raise WorkerError("Match workers keep dying before they play a game; run with --workers 1 "
                                          "to see the error.", PluginError.exit_code)
            busy = [w for w in pool if w.inflight]
            if not busy:
                continue
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for w in busy:
                lost = False
                if w.conn in ready:
                    try:
                        yield from w.receive()
                    except (EOFError, OSError):
                        lost = True
                if not lost and w.process.is_alive():
                    continue
                w.process.join(timeout=5)
                for job in sorted(w.inflight.values(), key=lambda j: j.index, reverse=True):
                    attempts[job.index] = attempts.get(job.index, 0) + 1
                    if attempts[job.index] > retries:
                        yield job, crashed(job, f"a match worker died (exit code {w.process.exitcode}) while "
                                                f"playing this game, {attempts[job.index]} times")
                    else:
                        queue.appendleft([job])
                w.inflight = {}
                w.conn.close()
                pool[pool.index(w)] = _Worker(ctx, options)
    finally:
        _stop(pool)
