"""A protocol agent for the tests that misbehaves on purpose in one game of a match (standard library only).

    python rogue_agent.py MODE --log FILE [--game K] [--after N] [--listen PORT]

It plays the first legal action (mode `none`: always), and in its K-th game (counted across its restarts in FILE, where each process
also writes its pid) does MODE after N of its moves: exit (code 3, a line on stderr), sleep (past any timeout),
garbage (a line that is not JSON), illegal (action 99), disconnect (closes its TCP connection), error (gives up
with an error message). Modes that act at start-up: no-hello (never answers), old-protocol, crash (exits at once),
grandchild (starts a `sleep` of its own, then plays). With --listen it serves TCP instead of stdin/stdout.
"""
import argparse
import fcntl
import json
import os
import socket
import socketserver
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("--log", required=True)
    ap.add_argument("--game", type=int, default=2)
    ap.add_argument("--after", type=int, default=2)
    ap.add_argument("--listen", type=int, default=None)
    args = ap.parse_args()
    with open(args.log, "a") as f:
        f.write(f"pid {os.getpid()} {os.getppid()}\n")
    if args.mode == "crash":
        print("rogue agent: crashing at start", file=sys.stderr, flush=True)
        sys.exit(1)
    if args.mode == "grandchild":
        child = subprocess.Popen(["sleep", "300"])
        with open(args.log, "a") as f:
            f.write(f"pid {child.pid}\n")
    if args.listen is None:
        play(args, sys.stdin.buffer, sys.stdout.buffer, None)
        return

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            play(args, self.rfile, self.wfile, self.connection)

    socketserver.ThreadingTCPServer.daemon_threads = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", args.listen), Handler) as server:
        print(f"listening on {server.server_address[1]}", file=sys.stderr, flush=True)
        server.serve_forever()


def games_so_far(log):
    with open(log) as f:
        return sum(1 for line in f if line.startswith("game"))


def play(args, reader, writer, connection):
    def send(message):
        writer.write((json.dumps(message) + "\n").encode())
        writer.flush()

    rogue, moves = False, 0
    for line in iter(reader.readline, b""):
        message = json.loads(line)
        kind = message["type"]
        if kind == "hello":
            if args.mode == "no-hello":
                time.sleep(300)
            send({"type": "hello", "protocol": 0 if args.mode == "old-protocol" else 1, "name": "rogue",
                  "version": "1", "games": ["*"], "observe": ["legal_actions"]})
        elif kind == "new_game":
            with open(args.log, "a") as f:  # locked: agents of games played at once count their games in turn
                fcntl.flock(f, fcntl.LOCK_EX)
                f.write(f"game {message['game']}\n")
                f.flush()
                rogue, moves = games_so_far(args.log) == args.game, 0
        elif kind == "observe":
            moves += 1
            if rogue and moves > args.after:
                if args.mode == "exit":
                    print("rogue agent: exiting mid-game", file=sys.stderr, flush=True)
                    os._exit(3)
                if args.mode == "sleep":
                    time.sleep(300)
                if args.mode == "garbage":
                    writer.write(b"this is not JSON\n")
                    writer.flush()
                    continue
                if args.mode == "illegal":
                    send({"type": "act", "action": 99})
                    continue
                if args.mode == "error":
                    send({"type": "error", "message": "rogue agent resigns"})
                    continue
                if args.mode == "disconnect" and connection is not None:
                    connection.shutdown(socket.SHUT_RDWR)
                    connection.close()
                    return
            send({"type": "act", "action": message["legal_actions"][0]})
        elif kind == "quit":
            return


if __name__ == "__main__":
    main()
