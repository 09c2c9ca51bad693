"""What `arena train ENV --external [HOST:]PORT` checks before anything starts (training on the episodes of
simulators outside Arena that connect over TCP: arena.protocols.ExternalLearner): the address, the algorithm, the
seats, and that every port can be listened on."""
from __future__ import annotations

import socket
from typing import Any

from arena.errors import UsageError
from arena.learners import external_problem
from arena.services.progress import Progress


def parse_external(text: str | int) -> tuple[str, int]:
    """'5555' -> ('localhost', 5555); 'HOST:PORT' (an IPv6 host in brackets) -> (HOST, PORT); one line if it is not
    a port from 1 to 65535."""
    host, _, port = str(text).strip().rpartition(":")
    host = host.strip("[]") or "localhost"
    try:
        number = int(port)
    except ValueError:
        number = 0
    if not 1 <= number <= 65_535:
        raise UsageError(f"--external takes a port from 1 to 65535, or HOST:PORT, not {str(text)!r}.")
    return host, number


def runners(request: Any) -> int:
    """How many simulators a run with --external serves at once: one per EnvRunner (one when there are none)."""
    return max(int(request.resources.get("num_env_runners") or 0), 1)


def address(request: Any, host: str, port: int) -> str:
    """'localhost:5555', or with N EnvRunners 'localhost:5555 to 5555+N-1'."""
    count = runners(request)
    return _hostport(host, port) + (f" to {port + count - 1}" if count > 1 else "")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_external(registry: Any, request: Any, info: Any, progress: Progress) -> tuple[str, int]:
    """(host, port) of a run on external simulators, checked before anything starts: an algorithm that can (with
    these hyperparameters), a game with one seat, ports that can be listened on (one per EnvRunner, from PORT up)."""
    host, port = parse_external(request.external)  # type: ignore[arg-type]
    problem = external_problem(registry, request.algo, request.hyperparameters)
    if problem:
        raise UsageError(problem)
    if info.num_seats != 1:
        raise UsageError(f"--external serves one agent per simulator (RLlib 2.60's server is single-agent); "
                         f"{info.env_id} has {info.num_seats} seats: train it without --external.")
    count = runners(request)
    if port + count - 1 > 65_535:
        raise UsageError(f"--external {port} with {count} EnvRunners needs ports up to {port + count - 1}; the last "
                         "is 65535.")
    for p in range(port, port + count):
        _check_listen(host, p)
    if host not in ("localhost", "127.0.0.1", "::1"):
        progress.say(f"Warning: listening on {host}: anyone who can reach this machine on port {port} can send "
                     "this learner episodes, and a simulator unpickles the config it is sent. Leave out the host to "
                     "serve only this machine.")
    return host, port


def _check_listen(host: str, port: int) -> None:
    """One line when host:port cannot be listened on (taken, not this machine's address, privileged)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise UsageError(f"--external {_hostport(host, port)}: cannot resolve {host} ({e.strerror}).") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(address)
        except OSError as e:
            raise UsageError(f"Cannot listen for simulators on {_hostport(host, port)}: {e.strerror or e}. Pick "
                             "another port with --external.") from None
