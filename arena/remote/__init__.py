"""Writing an agent in Python that plays in Arena from outside (docs/protocol.md): subclass Agent, then `run(...)`.

    from arena.remote import Agent, run

    class First(Agent):
        name, version, games = "first", "1.0", ["openspiel/connect_four"]

        def act(self, message):                 # message: the observe (observation, legal_actions, state, ...)
            return message["legal_actions"][0]

    if __name__ == "__main__":
        run(First)          # on stdin/stdout: `arena match openspiel/connect_four "exec:python first.py" random`
                            # with --listen [HOST:]PORT: a TCP server, `... tcp:127.0.0.1:PORT ...`

Each connection (a process's stdin/stdout, or one TCP connection) gets its own Agent instance and plays one game
at a time. An exception in act() tells Arena the agent gives up that game (an `error` message: a forfeit with the
reason), and the agent goes on to the next. The standard library only: no numpy, no Arena plugins.
"""
from __future__ import annotations

import argparse
import socketserver
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from arena.remote.protocol import OBSERVE_FIELDS, PROTOCOL, decode, encode

__all__ = ["Agent", "PROTOCOL", "run", "serve", "listen"]


class Agent:
    """One agent session. Override act(); new_game() and game_over() are optional."""

    name = "agent"
    version = "0"
    games: list[str] = ["*"]  # env ids (or * patterns) it plays; Arena refuses to seat it elsewhere
    observe: tuple[str, ...] = OBSERVE_FIELDS  # what each observe carries: fewer fields, less to send each move

    def new_game(self, message: dict[str, Any]) -> None:
        """A game starts: message has game, env, seat, seats and action_space."""

    def act(self, message: dict[str, Any]) -> Any:
        """The action for an observe message: an action number, or a list of numbers for a continuous seat."""
        raise NotImplementedError

    def game_over(self, message: dict[str, Any]) -> None:
        """A game ended: message has game, seat, returns, rank (0 is first), forfeits and error."""


def serve(agent: Agent, reader: BinaryIO, writer: BinaryIO) -> None:
    """Speak the protocol on one pair of streams until quit or the end of the input."""

    def send(message: dict[str, Any]) -> None:
        writer.write(encode(message))
        writer.flush()

    for line in iter(reader.readline, b""):
        if not line.strip():
            continue
        message = decode(line)
        kind = message["type"]
        if kind == "observe":
            try:
                send({"type": "act", "action": agent.act(message)})
            except Exception as e:  # the agent gives up this game, with its reason
                send({"type": "error", "message": f"{type(e).__name__}: {e}"})
        elif kind == "new_game":
            agent.new_game(message)
        elif kind == "game_over":
            agent.game_over(message)
        elif kind == "hello":
            send({"type": "hello", "protocol": PROTOCOL, "name": agent.name, "version": agent.version,
                  "games": list(agent.games), "observe": list(agent.observe)})
        elif kind == "quit":
            return


def listen(factory: Callable[[], Agent], host: str = "127.0.0.1", port: int = 0,
           ready: Callable[[int], None] | None = None) -> None:
    """Serve agents over TCP: each connection gets factory()'s agent, on its own thread, until interrupted.
    `ready(port)` is called once listening (port 0 picks a free one)."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            serve(factory(), self.rfile, self.wfile)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server((host, port), Handler) as server:
        if ready is not None:
            ready(server.server_address[1])
        server.serve_forever()


def run(factory: Callable[[], Agent], argv: list[str] | None = None) -> None:
    """An agent's main: on stdin/stdout, or `--listen [HOST:]PORT` as a TCP server (127.0.0.1 unless told)."""
    ap = argparse.ArgumentParser(description=f"{factory().name}: an agent for Arena (docs/protocol.md)")
    ap.add_argument("--listen", metavar="[HOST:]PORT", help="serve over TCP instead of stdin/stdout")
    args = ap.parse_args(argv)
    if args.listen is None:
        serve(factory(), sys.stdin.buffer, sys.stdout.buffer)
        return
    host, _, port = args.listen.rpartition(":")
    try:
        listen(factory, host or "127.0.0.1", int(port),
               ready=lambda p: print(f"listening on {host or '127.0.0.1'}:{p}", file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        pass
