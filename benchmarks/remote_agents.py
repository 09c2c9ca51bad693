"""Remote agents: the round trip per move of an `exec:` and a `tcp:` agent against the same policy in process.

The same uniform-random Connect Four player three ways: a policy in this process, a subprocess speaking the agent
protocol on stdin/stdout (`exec:`, written with arena.remote and asking only for legal_actions), and the same
agent served over TCP on 127.0.0.1 (`tcp:`). Each plays `random` through the match runner (arena.services
.headtohead, one worker), rounds alternating; the cost per move is (remote time - in-process time) / the remote
player's moves. Then games/s of the exec agent against random on 1 and 2 workers (each worker runs its own agents).
A variant sends the full observation and state text each move (what an agent gets by default).

    python benchmarks/remote_agents.py            # about a minute
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AGENT = '''
import random, sys
from arena.remote import Agent, run

class Random(Agent):
    name, version, games = "random-remote", "1", ["*"]
    observe = tuple(sys.argv[1].split(",")) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else ("legal_actions",)

    def __init__(self):
        self.rng = random.Random(0)

    def act(self, message):
        return self.rng.choice(message["legal_actions"])

run(Random, [a for a in sys.argv[1:] if a.startswith("--") or a.isdigit()])
'''
GAME = "openspiel/connect_four"


def play(policies: tuple[str, ...], games: int, workers: int = 1) -> tuple[float, int]:
    """(seconds, moves by the first policy's seats) for `games` games."""
    from arena.registry import Registry
    from arena.services.headtohead import HeadToHead, head_to_head

    start = time.perf_counter()
    doc = head_to_head(Registry(), HeadToHead(GAME, policies, games=games, seed=1, workers=workers,
                                              record_moves=True))
    took = time.perf_counter() - start
    assert not doc["forfeits"] and not doc["errors"], (doc["forfeits"][:2], doc["errors"][:2])
    moves = 0
    for i, result in enumerate(doc["results"]):
        mine = i % 2  # seats rotate: the first participant sits in seat i % 2
        moves += sum(1 for seat, _ in result["moves"] if seat == mine)
    return took, moves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="arena-remote-bench-"))
    agent = folder / "random_agent.py"
    agent.write_text(AGENT)
    exe = f"exec:{sys.executable} {agent}"
    full = f"exec:{sys.executable} {agent} observation,legal_actions,state"
    server = subprocess.Popen([sys.executable, str(agent), "--listen", "0"], stderr=subprocess.PIPE, text=True)
    try:
        port = int(server.stderr.readline().rsplit(":", 1)[1])  # type: ignore[union-attr]
        tcp = f"tcp:127.0.0.1:{port}"
        play((exe, "random"), 8)  # warm up: imports, the first processes
        specs = {"in process": "random", "exec:": exe, "tcp:": tcp, "exec: (all fields)": full}
        small, big = 8, args.games  # the marginal cost per move leaves out what a match pays once (agent start-up)
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in specs}
        moves: dict[str, tuple[int, int]] = {}
        for _ in range(args.rounds):
            for label, spec in specs.items():
                (t0, m0), (t1, m1) = play((spec, "random"), small), play((spec, "random"), big)
                times[label].append((t1, (t1 - t0) / (m1 - m0)))
                moves[label] = (m0, m1)
        base = statistics.median(per for _, per in times["in process"])
        print(f"{GAME} against random, one worker, median of {args.rounds} rounds; per move: the marginal time "
              f"between a {small}-game and a {big}-game match over the player's extra moves\n")
        print(f"| Player | Seconds for {big} games | Its moves | Time per move | Cost per move over in-process |")
        print("|---|---|---|---|---|")
        for label, runs in times.items():
            t, per = statistics.median(t for t, _ in runs), statistics.median(p for _, p in runs)
            extra = "" if label == "in process" else f"{(per - base) * 1e6:.0f} µs"
            print(f"| {label} | {t:.2f} | {moves[label][1]:,} | {per * 1e6:.0f} µs | {extra} |")
        from arena.remote.client import RemotePolicy

        starts = []
        for _ in range(10):
            agent_policy = RemotePolicy(exe)
            t0 = time.perf_counter()
            agent_policy.start()
            starts.append(time.perf_counter() - t0)
            agent_policy.close()
        print(f"\nStarting an exec: agent (process start, imports, hello): median {statistics.median(starts) * 1e3:.0f} ms "
              f"over 10; a worker starts one per game it plays at once (up to 8) and keeps them for the match.\n")
        print(f"| exec: agent against random, {args.games * 2} games | Games/s |")
        print("|---|---|")
        for workers in (1, 2):
            runs = [args.games * 2 / play((exe, "random"), args.games * 2, workers=workers)[0]
                    for _ in range(args.rounds)]
            print(f"| {workers} worker{'s' if workers > 1 else ''} | {statistics.median(runs):,.0f} |")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
