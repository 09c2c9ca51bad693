"""The one place Arena connects to Ray: a cluster at an address, or a local Ray sized to this machine.

Training sessions and Ray match workers both call `connect`; nothing else calls ray.init. Whether Ray's own
output is shown follows arena.logs (the CLI's -v): quiet by default.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from arena import logs, signals
from arena.errors import UsageError

LOCAL = "local"  # an address meaning: start a local Ray, as if no address were given


def connect(address: str | None = None, *, num_cpus: int | None = None,
            runtime_env: Mapping[str, Any] | None = None, verbose: bool | None = None) -> None:
    """Make sure this process is connected to Ray; does nothing if it already is.

    `address`: a Ray cluster to join ("auto" finds the one started on this machine with `ray start`, or
    "ray://host:10001", "host:6379"); None or "local" starts a local Ray with `num_cpus` CPUs (default: all of
    this machine's). `runtime_env` is passed to Ray, with Arena's quieting variables added to its env_vars
    (the caller's own win). `verbose` (default: arena.logs.is_verbose()) shows Ray's log lines at INFO and the
    output of its worker processes; otherwise only errors. A missing Ray or an unreachable cluster is a
    UsageError with one line saying what to do.
    """
    try:
        import ray
    except ImportError:
        raise UsageError("This needs Ray, which is not installed: pip install 'arena[train]'.") from None
    verbose = logs.is_verbose() if verbose is None else verbose
    if ray.is_initialized():
        logs.quiet_ray(verbose)
        signals.reinstall()
        return
    env = dict(runtime_env or {})
    env_vars = {**logs.worker_env(verbose), **dict(env.get("env_vars") or {})}
    if env_vars:
        env["env_vars"] = env_vars
    options: dict[str, Any] = {**logs.ray_init_options(verbose), "runtime_env": env or None}
    logs.quiet_ray(verbose)  # before init: its own start-up notices go through these handlers
    try:
        if address and address != LOCAL:
            ray.init(address=address, **options)
        else:
            with signals.kept_from_children():  # SIGTERM to our group stops us cleanly; we stop Ray
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"a Ray cluster at {address!r}" if address and address != LOCAL else "a local Ray"
        raise UsageError(f"Cannot start or reach {where}: {e}. Start a cluster with `ray start --head`, "
                         "or leave the Ray address out to run on this machine.") from e
    logs.quiet_ray(verbose)  # ray.init set the `ray` logger's level again
    signals.reinstall()  # ray.init replaced the SIGTERM handler with its own, which skips every clean-up step
