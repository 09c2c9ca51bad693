"""Arena's end of the agent protocol: `exec:COMMAND` (a program on the other end of a pipe) and `tcp:HOST:PORT`
(an agent server Arena connects to) as policies that play wherever a policy id does.

One RemotePolicy plays one game at a time over one channel: a child process of its own, or a TCP connection of
its own. Anything that goes wrong inside a game (the agent exits, stalls past its time, answers garbage,
disconnects) raises Forfeit with the reason, so the runner forfeits that seat and the match goes on; the broken
channel is dropped and the next game starts a fresh one. An agent that cannot be started or reached at all, or
speaks another protocol version, is a RemoteAgentError (one line) before any game starts.

Child processes never outlive the match: close() ends them (the match runner's players close their policies), a
child started from a main thread is killed by the kernel if this process dies (PR_SET_PDEATHSIG), each child leads
its own process group (Ctrl-C is Arena's to handle, and a kill takes the child's own children too), and any left
at interpreter exit are killed.
"""
from __future__ import annotations

import atexit
import fnmatch
import inspect
import itertools
import os
import select
import shlex
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from typing import Any

from arena.errors import Forfeit, RemoteAgentError
from arena.remote.protocol import OBSERVE_FIELDS, OPTIONAL_FIELDS, PROTOCOL, decode, encode, to_lists

HELLO_TIMEOUT = 30.0  # seconds an agent has to start and answer hello
MOVE_TIMEOUT = 10.0  # seconds per move when the match sets no clock (--move-timeout, --game-timeout)
QUIT_GRACE = 1.0  # seconds an agent has to exit after quit before it is killed
_games = itertools.count(1)  # game numbers, unique within this process
_live: weakref.WeakSet[_Channel] = weakref.WeakSet()


def canonical(spec: str) -> str:
    """The player id of a remote spec: `exec:` with its command as written (trimmed), `tcp:HOST:PORT`."""
    kind, _, rest = spec.strip().partition(":")
    rest = rest.strip()
    if not rest:
        raise RemoteAgentError(f"{kind}: needs " + ("a command: exec:COMMAND, e.g. exec:python agent.py."
                                                    if kind == "exec" else "an address: tcp:HOST:PORT."))
    if kind == "exec":
        try:
            argv = shlex.split(rest)
        except ValueError as e:
            raise RemoteAgentError(f"exec:{rest}: cannot split the command ({e}).") from None
        if not argv:
            raise RemoteAgentError("exec: needs a command: exec:COMMAND, e.g. exec:python agent.py.")
        return f"exec:{rest}"
    host, port = _address(rest)
    return f"tcp:{host}:{port}"


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RemoteAgentError(f"tcp:{text}: write tcp:HOST:PORT with a port from 1 to 65535.")
    return host.strip("[]"), int(port)


# -- channels: a line in, a line out, with deadlines ------------------------------------------------------------
class _Channel:
    """One connection to an agent: send a line, receive a line by a deadline. Raises Forfeit once broken."""

    what = "the agent"

    def __init__(self) -> None:
        self.buffer = b""
        self.poller = select.poll()
        _live.add(self)

    def send(self, message: dict[str, Any]) -> None:
        try:
            self._write(encode(message))
        except (BrokenPipeError, ConnectionError, OSError) as e:
            raise Forfeit(self.gone(f"could not be written to ({e.strerror or e})")) from None

    def receive(self, deadline: float, waiting_for: str, allowed: float) -> dict[str, Any]:
        """The next message, by `deadline` (time.monotonic; `allowed` seconds from the question, for the reason)."""
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                line, self.buffer = self.buffer[:newline], self.buffer[newline + 1:]
                if not line.strip():
                    continue
                try:
                    return decode(line)
                except ValueError as e:
                    raise Forfeit(f"{self.what} answered garbage where {waiting_for} was due: {e}") from None
            left = deadline - time.monotonic()  # past it, an answer already waiting still counts (read late in a group)
            if not self.poller.poll(max(1, int(left * 1000)) if left > 0 else 0):
                raise Forfeit(f"{self.what} gave no {waiting_for} within {allowed:g}s")
            chunk = self._read()
            if chunk is None:  # woken without data: keep waiting
                continue
            if not chunk:
                raise Forfeit(self.gone("closed its end"))
            self.buffer += chunk

    def gone(self, what: str) -> str:
        return f"{self.what} {what}"

    def close(self, quit: bool = True) -> None:
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _read(self) -> bytes | None:
        """What arrived (b"" at the end of the stream), or None when nothing had."""
        raise NotImplementedError


def _die_with_parent() -> None:  # in the child, between fork and exec
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed when the thread that started it ends


try:
    import ctypes

    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (ImportError, OSError, AttributeError):  # not Linux
    _prctl = None


class _Process(_Channel):
    """A child process: messages on its stdin and stdout; its stderr is kept (the tail names why it died)."""

    def __init__(self, argv: list[str]):
        super().__init__()
        self.what = f"the agent ({argv[0]})"
        self.stderr = tempfile.TemporaryFile()
        on_main = threading.current_thread() is threading.main_thread()
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, bufsize=0,
                start_new_session=True, preexec_fn=_die_with_parent if on_main and _prctl else None,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        except OSError as e:
            self.stderr.close()
            raise RemoteAgentError(f"exec:{shlex.join(argv)}: cannot start {argv[0]!r}: "
                                   f"{e.strerror or e}.") from None
        self.out = self.process.stdout.fileno()  # type: ignore[union-attr]
        self.into = self.process.stdin.fileno()  # type: ignore[union-attr]
        os.set_blocking(self.out, False)
        self.poller.register(self.out, select.POLLIN)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.into, view):]

    def _read(self) -> bytes | None:
        try:
            return os.read(self.out, 65536)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def gone(self, what: str) -> str:
        try:
            code = self.process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return f"{self.what} {what}"
        return f"{self.what} exited with code {code}" + self._last_words()

    def _last_words(self) -> str:
        try:
            self.stderr.seek(0, os.SEEK_END)
            size = self.stderr.tell()
            self.stderr.seek(max(0, size - 2000))
            lines = [ln.strip() for ln in self.stderr.read().decode(errors="replace").splitlines() if ln.strip()]
        except (OSError, ValueError):
            return ""
        return f": {lines[-1][:200]}" if lines else ""

    def close(self, quit: bool = True) -> None:
        process = self.process
        if process.returncode is None and quit:
            try:
                self._write(encode({"type": "quit"}))
            except OSError:
                pass
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            process.wait(timeout=QUIT_GRACE if quit else 0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        try:  # then its group: whatever the agent started goes with it (the id stays the group's while it has any)
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.stderr.close()
        _live.discard(self)


class _Socket(_Channel):
    """A TCP connection to an agent server (which serves each connection as one agent)."""

    def __init__(self, host: str, port: int):
        super().__init__()
        self.what = f"the agent at {host}:{port}"
        try:
            self.sock = socket.create_connection((host, port), timeout=HELLO_TIMEOUT)
        except OSError as e:
            raise RemoteAgentError(f"tcp:{host}:{port}: cannot connect ({e.strerror or e}); is the agent "
                                   "listening there?") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.poller.register(self.sock.fileno(), select.POLLIN)

    def _write(self, data: bytes) -> None:
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def _read(self) -> bytes | None:
        try:
            return self.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def gone(self, what: str) -> str:
        return f"{self.what} disconnected" if what == "closed its end" else f"{self.what} {what}"

    def close(self, quit: bool = True) -> None:
        if quit:
            try:
                self._write(encode({"type": "quit"}))
            except OSError:
                pass
        self.sock.close()
        _live.discard(self)


@atexit.register
def _close_all() -> None:
    for channel in list(_live):
        channel.close(quit=False)


# -- the policy -------------------------------------------------------------------------------------------------
class RemotePolicy:
    """A policy played by an agent outside Arena. Keeps per-game state (it resets), so each game in progress gets
    its own instance, channel and, for exec:, process."""

    def __init__(self, spec: str):
        self.spec = canonical(spec)
        kind, _, rest = self.spec.partition(":")
        self.argv = shlex.split(rest) if kind == "exec" else None
        self.address = _address(rest) if kind == "tcp" else None
        self.channel: _Channel | None = None
        self.hello: dict[str, Any] = {}
        self.fields: tuple[str, ...] = OBSERVE_FIELDS
        self.game = 0
        self.allowed = MOVE_TIMEOUT  # seconds the move in progress was given

    # -- lifetime ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the agent (or connect to it) and exchange hellos, unless that is done; RemoteAgentError if the
        agent cannot be started, reached or understood."""
        if self.channel is not None:
            return
        channel = _Process(self.argv) if self.argv is not None else _Socket(*self.address)  # type: ignore[misc]
        try:
            channel.send({"type": "hello", "protocol": PROTOCOL, "arena": _arena_version()})
            hello = channel.receive(time.monotonic() + HELLO_TIMEOUT, "hello", HELLO_TIMEOUT)
        except Forfeit as e:
            channel.close(quit=False)
            raise RemoteAgentError(f"{self.spec}: {e}.") from None
        problem = _hello_problem(hello)
        if problem:
            channel.close()
            raise RemoteAgentError(f"{self.spec}: {problem}.")
        self.hello = hello
        asked = hello.get("observe")
        self.fields = tuple(f for f in OPTIONAL_FIELDS if f in asked) if isinstance(asked, list) else OBSERVE_FIELDS
        self.channel = channel
        self._narrow()

    def close(self) -> None:
        if self.channel is not None:
            channel, self.channel = self.channel, None
            channel.close()

    def _drop(self) -> None:
        """After a failure mid-game the channel cannot be trusted (a late answer would be read as the next one)."""
        if self.channel is not None:
            channel, self.channel = self.channel, None
            channel.close(quit=False)

    # -- the policy shape ----------------------------------------------------------------------------------------
    def check(self, game: Any) -> str | None:
        """Whether the agent plays this game, by the games its hello lists; starts it (and ends it) to ask."""
        try:
            self.start()
            return games_problem(self.hello, game.env_id)
        finally:
            self.close()

    def reset(self, seat: int, game: Any) -> None:
        try:
            if self.channel is None:
                self.start()
            self.game = next(_games)
            self.channel.send({"type": "new_game", "game": self.game, "env": game.env_id, "seat": seat,  # type: ignore[union-attr]
                               "seats": game.num_seats, "action_space": _space(game, seat)})
        except RemoteAgentError as e:
            raise Forfeit(str(e)) from None
        except BaseException:
            self._drop()
            raise

    def act(self, observation: Any, legal_actions: Any, action_mask: Any, state: Any, history: Any, seat: int,
            time_left: float | None) -> Any:
        deadline = self._observe(seat, time_left, observation, legal_actions, action_mask, state, history)
        return self._answer(deadline)

    def _narrow(self) -> None:
        """Once the agent has said what it observes, act asks the runner for just that (a board it never reads
        is not fetched every move): an instance attribute with the narrower signature (arena.policy reads it)."""
        names = ("seat", "time_left") + self.fields

        def act(**call: Any) -> Any:
            return self._answer(self._observe(**call))

        act.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names])
        self.act = act  # type: ignore[method-assign]

    @staticmethod
    def act_group(policies: list[RemotePolicy], calls: list[dict[str, Any]]) -> list[Any]:
        """The moves of several games at once, each game with its own agent: every observe is sent before any
        answer is read, so the agents think (and the operating system wakes them) side by side instead of one
        round trip after another. An item is the action, or the Forfeit of that game alone."""
        out: list[Any] = [None] * len(calls)
        deadlines: list[float | None] = [None] * len(calls)
        try:
            for i, (policy, call) in enumerate(zip(policies, calls)):
                try:
                    deadlines[i] = policy._observe(**call)
                except Forfeit as e:
                    out[i] = e
            for i, policy in enumerate(policies):
                if deadlines[i] is not None:
                    try:
                        out[i] = policy._answer(deadlines[i])  # type: ignore[arg-type]
                    except Forfeit as e:
                        out[i] = e
        except BaseException:  # the runner's timeout for the whole group: no answer still due can be trusted
            for i, policy in enumerate(policies):
                if deadlines[i] is not None and out[i] is None:
                    policy._drop()
            raise
        return out

    def _observe(self, seat: int, time_left: float | None, observation: Any = None, legal_actions: Any = (),
                 action_mask: Any = None, state: Any = None, history: Any = ()) -> float:
        """Send the observe of a move; returns the deadline (time.monotonic) of its answer."""
        if self.channel is None:
            raise Forfeit("the agent is gone (it failed earlier in this game)")
        fields = self.fields
        message: dict[str, Any] = {"type": "observe", "game": self.game, "seat": seat}
        if "observation" in fields:
            message["observation"] = to_lists(observation)
        if "legal_actions" in fields:
            message["legal_actions"] = list(legal_actions)
        if "action_mask" in fields:
            message["action_mask"] = to_lists(action_mask)
        if "state" in fields:
            message["state"] = None if state is None else str(state)
        if "history" in fields:
            message["history"] = [[s, to_lists(a)] for s, a in history]
        message["time_left"] = time_left
        try:
            self.channel.send(message)
        except BaseException:
            self._drop()
            raise
        self.allowed = MOVE_TIMEOUT if time_left is None else time_left
        return time.monotonic() + self.allowed + 0.05

    def _answer(self, deadline: float) -> Any:
        """The action the agent answers with by `deadline`; Forfeit otherwise."""
        try:
            answer = self.channel.receive(deadline, "act", self.allowed)  # type: ignore[union-attr]
        except BaseException:  # Forfeit, or the runner's own move timeout (SIGALRM) mid-read
            self._drop()
            raise
        kind = answer["type"]
        if kind == "act" and "action" in answer:
            action = answer["action"]
            if isinstance(action, str):  # (a string would read as a forfeit's reason to the runner)
                raise Forfeit(f"illegal action {action!r}")
            return action
        self._drop()
        if kind == "error":
            raise Forfeit(f"the agent gave up: {str(answer.get('message', ''))[:200]}")
        raise Forfeit(f"the agent answered {kind!r} where an act (with an action) was due")

    def game_over(self, seat: int, result: Any) -> None:
        if self.channel is None:
            return
        try:
            self.channel.send({"type": "game_over", "game": self.game, "seat": seat,
                               "returns": list(result.returns), "rank": result.ranks[seat],
                               "forfeits": {str(s): why for s, why in result.forfeits.items()},
                               "error": result.error})
        except Forfeit:
            self._drop()


def _hello_problem(hello: dict[str, Any]) -> str | None:
    if hello.get("type") != "hello":
        return f"the agent answered {hello.get('type')!r} to hello"
    version = hello.get("protocol")
    if version != PROTOCOL:
        return (f"the agent speaks protocol version {version!r}; this Arena speaks {PROTOCOL} "
                "(docs/protocol.md)")
    games = hello.get("games", ["*"])
    if not isinstance(games, list) or not all(isinstance(g, str) for g in games):
        return "the agent's hello lists its games as something other than a list of env ids"
    return None


def games_problem(hello: dict[str, Any], env_id: str) -> str | None:
    """Why an agent whose hello lists `games` (env ids, * patterns; none listed: any) does not play env_id."""
    games = hello.get("games") or ["*"]
    base = env_id.partition(":")[0]
    from arena.ids import split_version

    names = {env_id, base, split_version(base)[0]}
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in games for name in names):
        return None
    return f"its hello lists only {', '.join(games)}"


def _space(game: Any, seat: int) -> dict[str, Any]:
    """A seat's actions: {"discrete": N} (numbers 0..N-1) or {"box": {shape, low, high}} (arrays)."""
    if game.continuous(seat):
        space = game.action_spaces[seat]
        return {"box": {"shape": list(space.shape), "low": to_lists(space.low), "high": to_lists(space.high)}}
    n = getattr(game.action_spaces[seat], "n", None) if game.action_spaces else None
    return {"discrete": int(n if n is not None else game.num_actions)}


def _arena_version() -> str:
    import arena

    return arena.__version__
