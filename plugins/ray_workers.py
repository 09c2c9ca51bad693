"""Match play on a Ray cluster: one actor per worker plays chunks of games (arena.parallel decides the chunks).

A chunk whose actor dies is played again on a live actor. When the actor's node was lost (its raylet killed, the
machine gone) that happens every time; when only the actor's process died (a plugin that crashes), up to `retries`
times, then the chunk's games are recorded as errors. A chunk's games are yielded together from the try that
finished them, so each game is yielded exactly once.

Ray restarts nothing here (max_restarts=0): an actor restarted for a lost node would wait for a CPU that live
actors hold, and the chunk queued on it would wait forever. A dead actor is replaced only while the live nodes
have a CPU for it, and an actor gets a chunk only once it has started (it has answered where it runs).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from arena.errors import ArenaError, PluginError
from arena.parallel import ChunkPlayer, GameJob, Placement, PlayOptions, crashed
from arena.types import MatchResult

from .ray_session import connect
from .ray_ship import needs_of
from .ray_snapshots import pack, unpack

START_TIMEOUT_S = 120.0  # waiting for a CPU for the first match worker before saying none is free


def ray_stream(chunks: list[list[GameJob]], workers: int, address: str, options: PlayOptions, retries: int,
               placement: Placement | None = None) -> Iterator[tuple[GameJob, MatchResult]]:
    """Yields (job, result) chunk by chunk as actors finish them; `workers` <= 1 means one actor per cluster CPU.
    `placement`, when given, is filled with the node each game was played on and the nodes where tries were lost."""
    from arena.registry import Registry

    registry = Registry()
    players = sorted({p for chunk in chunks for job in chunk for p in job.players})
    needs: dict[str, str] = {}
    for env in sorted({job.env for chunk in chunks for job in chunk}):
        needs.update(needs_of(registry, env, players))
    connect(address, needs=needs)  # a missing Ray, an unreachable cluster, a node unlike this one: one line
    import ray

    snapshots = ray.put(pack(players))  # the snapshots' folders, for nodes other than this machine

    @ray.remote(num_cpus=1, max_restarts=0)
    class MatchWorker:
        def __init__(self, packed: Any) -> None:
            unpack(packed)
            self.player = ChunkPlayer()

        def node(self) -> tuple[str, str]:
            return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()

        def play(self, chunk: list[GameJob]) -> list[tuple[GameJob, MatchResult]]:
            return list(self.player.play(chunk, options))

    def cpus() -> int:  # of the live nodes
        return int(ray.cluster_resources().get("CPU", 0))

    free = int(ray.available_resources().get("CPU", 0))  # a league's EnvRunners may hold some of the CPUs
    size = max(1, free) if workers <= 1 else min(workers, max(1, free))  # an actor holds its CPU
    size = min(size, len(chunks)) or 1
    starting: dict[Any, Any] = {}  # ref of an actor's node() -> the actor
    playing: dict[Any, tuple[Any, int]] = {}  # ref of play() -> (actor, chunk number)
    node_of: dict[Any, str] = {}  # started actor -> its node's id
    idle: list[Any] = []
    names: dict[str, str] = {}  # node id -> its name in reports
    todo = deque(range(len(chunks)))
    crashes = [0] * len(chunks)
    failed_starts = 0

    def hire() -> None:
        actor = MatchWorker.remote(snapshots)
        starting[actor.node.remote()] = actor

    def actors() -> int:
        return len(starting) + len(node_of)

    for _ in range(size):
        hire()
    try:
        while todo or playing:
            while todo and idle:
                actor, k = idle.pop(), todo.popleft()
                playing[actor.play.remote(chunks[k])] = (actor, k)
            if not playing and not starting:
                raise ArenaError(f"No Ray actor is left to play {len(todo)} chunks of games, and the live nodes of "
                                 f"the cluster at {address!r} have no CPU for a new one.")
            ready, _ = ray.wait([*playing, *starting], num_returns=1,
                                timeout=None if playing or node_of else START_TIMEOUT_S)
            if not ready:
                raise ArenaError(f"No match worker could start on the Ray cluster at {address!r} within "
                                 f"{START_TIMEOUT_S:.0f} s: no CPU is free there (its "
                                 f"{cpus()} CPUs are held by other work). Add a node, or play without Ray.")
            ref = ready[0]
            if ref in starting:
                actor = starting.pop(ref)
                try:
                    node_id, ip = ray.get(ref)
                except ray.exceptions.RayActorError as e:  # it died starting, with no chunk
                    ray.kill(actor)
                    if e.actor_init_failed:  # e.g. a plugin that does not load there: the same error on every actor
                        kind, _, why = str(e).strip().splitlines()[-1].partition(": ")  # "arena.errors.X: ..."
                        raise PluginError(f"a Ray match worker failed to start: {kind.rpartition('.')[2]}: {why}"
                                          ) from None
                    failed_starts += 1
                    if failed_starts > 3 * size:
                        raise PluginError("Ray match workers keep dying before they play a game; run without "
                                          "--ray-address to see the error.") from None
                    if actors() < min(size, cpus()):
                        hire()
                    continue
                node_of[actor] = node_id
                names.setdefault(node_id, ip if ip not in names.values() else f"{ip}/{node_id[:8]}")
                idle.append(actor)
                continue
            actor, k = playing.pop(ref)
            try:
                results = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the worker's own error, e.g. a policy that cannot load
                raise PluginError(f"a Ray match worker failed: {type(e.cause).__name__}: {e.cause}") from None
            except ray.exceptions.RayActorError as e:
                node = node_of.pop(actor)
                ray.kill(actor)
                if placement is not None:
                    for job in chunks[k]:
                        placement.lost.setdefault(job.index, []).append(names[node])
                node_lost = node not in {n["NodeID"] for n in ray.nodes() if n["Alive"]}  # else its process died
                crashes[k] += not node_lost
                if node_lost or crashes[k] <= retries:
                    todo.appendleft(k)
                else:
                    for job in chunks[k]:
                        yield job, crashed(job, f"a Ray match worker died while playing this game, {crashes[k]} "
                                                f"times ({type(e).__name__})")
                if actors() < min(size, cpus()):
                    hire()
                continue
            if placement is not None:
                placement.played.update((job.index, names[node_of[actor]]) for job, _ in results)
            yield from results
            idle.append(actor)
    finally:
        for actor in [*starting.values(), *node_of]:
            ray.kill(actor)

