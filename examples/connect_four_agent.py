#!/usr/bin/env python3
"""A Connect Four player for Arena written in plain Python, standard library only: it speaks Arena's agent
protocol (docs/protocol.md), JSON lines on stdin/stdout, or over TCP with --listen PORT.

It plays a win when it has one, blocks the opponent's win, avoids moves that hand the opponent a win, and
otherwise prefers the centre. It reads the board from the state text Arena sends (OpenSpiel's: six rows of
seven cells, top row first, x for seat 0, o for seat 1).

    arena match openspiel/connect_four "exec:python examples/connect_four_agent.py" random --games 20
    python examples/connect_four_agent.py --listen 7001 &
    arena match openspiel/connect_four tcp:127.0.0.1:7001 connect_four_heuristic --games 20
"""
import json
import random
import socketserver
import sys

PROTOCOL = 1
ROWS, COLS = 6, 7
ORDER = [3, 2, 4, 1, 5, 0, 6]  # centre first


def board_of(state):
    return [list(row) for row in state.strip().splitlines()]


def drop(board, col, mark):
    """The board after `mark` plays `col`, or None when the column is full."""
    for row in range(ROWS - 1, -1, -1):
        if board[row][col] == ".":
            after = [r[:] for r in board]
            after[row][col] = mark
            return after
    return None


def wins(board, mark):
    for r in range(ROWS):
        for c in range(COLS):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + i * dr, c + i * dc) for i in range(4)]
                if all(0 <= y < ROWS and 0 <= x < COLS and board[y][x] == mark for y, x in cells):
                    return True
    return False


def choose(board, legal, me, rng):
    them = "o" if me == "x" else "x"
    for mark in (me, them):  # win, else block
        for col in legal:
            after = drop(board, col, mark)
            if after is not None and wins(after, mark):
                return col
    safe = []
    for col in legal:  # a move that lets the opponent win on top of it is a last resort
        after = drop(board, col, me)
        above = drop(after, col, them) if after is not None else None
        if above is None or not wins(above, them):
            safe.append(col)
    pool = safe or list(legal)
    best = min(ORDER.index(c) for c in pool)
    near = [c for c in pool if ORDER.index(c) <= best + 1]
    return rng.choice(near)


class Session:
    """One connection: answers hello, plays one game at a time."""

    def __init__(self, seed=None):
        self.rng = random.Random(seed)
        self.mark = "x"

    def handle(self, message):
        kind = message.get("type")
        if kind == "hello":
            return {"type": "hello", "protocol": PROTOCOL, "name": "connect-four-example", "version": "1.0",
                    "games": ["openspiel/connect_four"], "observe": ["legal_actions", "state"]}
        if kind == "new_game":
            self.mark = "x" if message["seat"] == 0 else "o"
        elif kind == "observe":
            board = board_of(message["state"])
            return {"type": "act", "action": choose(board, message["legal_actions"], self.mark, self.rng)}
        return None


def serve(reader, writer):
    session = Session()
    for line in iter(reader.readline, b""):
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("type") == "quit":
            return
        answer = session.handle(message)
        if answer is not None:
            writer.write((json.dumps(answer) + "\n").encode())
            writer.flush()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        serve(self.rfile, self.wfile)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--listen":
        socketserver.ThreadingTCPServer.daemon_threads = True
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        with socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[2])), Handler) as server:
            print(f"listening on 127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
            server.serve_forever()
    else:
        serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
