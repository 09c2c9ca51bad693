"""Match play on a Ray cluster: one actor per worker plays chunks of games (arena.parallel decides the chunks).

Actors are restarted by Ray when their process dies (max_restarts), and the chunk they were playing is played
again (max_task_retries); after `retries` failed tries the chunk's games are recorded as errors.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from arena.errors import PluginError
from arena.parallel import ChunkPlayer, GameJob, PlayOptions, crashed
from arena.types import MatchResult

from .ray_session import connect


def ray_stream(chunks: list[list[GameJob]], workers: int, address: str, options: PlayOptions,
               retries: int) -> Iterator[tuple[GameJob, MatchResult]]:
    """Yields (job, result) chunk by chunk as actors finish them; `workers` <= 1 means one actor per cluster CPU."""
    connect(address)  # a missing Ray or an unreachable cluster: one line
    import ray

    @ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=retries)
    class MatchWorker:
        def __init__(self) -> None:
            self.player = ChunkPlayer()

        def play(self, chunk: list[GameJob]) -> list[tuple[GameJob, MatchResult]]:
            return list(self.player.play(chunk, options))

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = cpus if workers <= 1 else min(workers, cpus)  # an actor holds its CPU: more would never start
    actors = [MatchWorker.remote() for _ in range(min(workers, len(chunks)) or 1)]
    pending: dict[Any, tuple[Any, list[GameJob]]] = {}
    todo = list(reversed(chunks))
    try:
        for actor in actors:
            if todo:
                chunk = todo.pop()
                pending[actor.play.remote(chunk)] = (actor, chunk)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            actor, chunk = pending.pop(ref)
            try:
                yield from ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the worker's own error, e.g. a policy that cannot load
                raise PluginError(f"a Ray match worker failed: {type(e.cause).__name__}: {e.cause}") from None
            except ray.exceptions.RayActorError as e:
                for job in chunk:
                    yield job, crashed(job, f"a Ray match worker died while playing this game ({type(e).__name__})")
            if todo:
                chunk = todo.pop()
                pending[actor.play.remote(chunk)] = (actor, chunk)
    finally:
        for actor in actors:
            ray.kill(actor)
