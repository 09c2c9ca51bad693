"""The one place Arena connects to Ray: a cluster at an address, or a local Ray sized to this machine.

Training sessions and Ray match workers both call `connect`; nothing else calls ray.init. Whether Ray's own
output is shown follows arena.logs (the CLI's -v): quiet by default.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from arena import logs, signals
from arena.errors import UsageError

from . import ray_ship

LOCAL = "local"  # an address meaning: start a local Ray, as if no address were given


def connect(address: str | None = None, *, num_cpus: int | None = None,
            runtime_env: Mapping[str, Any] | None = None, verbose: bool | None = None,
            needs: Mapping[str, str] | None = None) -> None:
    """Make sure this process is connected to Ray; does nothing if it already is.

    `address`: a Ray cluster to join ("auto" finds the one started on this machine with `ray start`, or
    "ray://host:10001", "host:6379"); None or "local" starts a local Ray with `num_cpus` CPUs (default: all of
    this machine's). `runtime_env` is passed to Ray, with Arena's quieting variables added to its env_vars
    (the caller's own win). `verbose` (default: arena.logs.is_verbose()) shows Ray's log lines at INFO and the
    output of its worker processes; otherwise only errors. A missing Ray or an unreachable cluster is a
    UsageError with one line saying what to do.

    Joining a cluster also ships Arena and its plugins to the nodes and checks every node (plugins/ray_ship.py):
    the same Python, Ray and Arena as here, and the plugins in `needs` (plugin -> what needs it), else one line.
    """
    global _joined
    try:
        import ray
    except ImportError:
        raise UsageError("This needs Ray, which is not installed: pip install 'arena[train]'.") from None
    verbose = logs.is_verbose() if verbose is None else verbose
    cluster = bool(address) and address != LOCAL
    if ray.is_initialized():
        logs.quiet_ray(verbose)
        signals.reinstall()
        if needs and _joined:
            ray_ship.check_nodes(needs)
        return
    if cluster:
        _probe(str(address))
    env = dict(runtime_env or {})
    env_vars = {**logs.worker_env(verbose), **(ray_ship.settings_env() if cluster else {}),
                **dict(env.get("env_vars") or {})}
    if env_vars:
        env["env_vars"] = env_vars
    with tempfile.TemporaryDirectory(prefix="arena-ship-") as staging:
        if cluster and ray_ship.ships_code() and "py_modules" not in env:
            env["py_modules"] = ray_ship.stage_code(Path(staging))
        options: dict[str, Any] = {**logs.ray_init_options(verbose), "runtime_env": env or None}
        logs.quiet_ray(verbose)  # before init: its own start-up notices go through these handlers
        try:
            with _stderr_dropped(not verbose):  # Ray's C++ core writes its retries straight to stderr
                if cluster:
                    ray.init(address=address, **options)
                else:
                    with signals.kept_from_children():  # SIGTERM to our group stops us cleanly; we stop Ray
                        # "local": a Ray of its own, even where `ray start` left a cluster that ray.init() would join
                        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"a Ray cluster at {address!r}" if cluster else "a local Ray"
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            hint = (" If the cluster uses token authentication, give its token in $RAY_AUTH_TOKEN or "
                    "~/.ray/auth_token." if cluster else "")
            raise UsageError(f"Cannot start or reach {where}: {first.rstrip('.')}.{hint} Start a cluster with `ray start --head`, "
                             "or leave the Ray address out to run on this machine.") from e
    logs.quiet_ray(verbose)  # ray.init set the `ray` logger's level again
    signals.reinstall()  # ray.init replaced the SIGTERM handler with its own, which skips every clean-up step
    _joined = cluster
    if cluster:
        ray_ship.forget_nodes()
        ray_ship.check_nodes(needs)


_joined = False  # whether this process's Ray is a cluster it joined (whose nodes are checked), not a local one


def joined_cluster() -> bool:
    """Whether this process is connected to a Ray cluster at an address (not a local Ray it started)."""
    import ray

    return _joined and ray.is_initialized()


PROBE_TIMEOUT_S = 5.0


def _probe(address: str) -> None:
    """One line at once for a cluster address nobody listens on (Ray itself retries for minutes, logging each try)."""
    if address == "auto":
        return  # Ray looks for a cluster started on this machine and says at once if there is none
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    try:
        number = int(port) if port else (10001 if client else 6379)
    except ValueError:
        raise UsageError(f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT or 'auto'.") from None
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", number), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        raise UsageError(f"Cannot reach a Ray cluster at {address!r}: {e.strerror or e}. Start one there with "
                         "`ray start --head`, check the address (HOST:PORT of the head node), or leave the Ray "
                         "address out to run on this machine.") from None


@contextlib.contextmanager
def _stderr_dropped(drop: bool) -> Iterator[None]:
    """Drop what is written to file descriptor 2 (by Ray's C++ core as well) while the block runs: a failure is
    reported in one line instead. `drop` False (with -v): everything is shown as it comes."""
    if not drop:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
