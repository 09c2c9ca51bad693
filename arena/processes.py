"""The processes a run started, recorded so that the next run can stop what a killed one left behind.

A league run records itself and its descendants (Ray's raylet, GCS and workers, match workers) in the store. A
process killed with SIGKILL cannot stop them, and some outlive it (Ray's dashboard and runtime-env agents, or
workers when only the driver was killed); the next run of the league, or `arena league status`, stops the ones
still there. A process is known by its pid and its start time (clock ticks after boot, field 22 of /proc/PID/stat),
and the record holds the machine's boot id: a pid reused by another process, or a record from before a reboot or
from another machine, never matches, so nothing but a recorded process is ever signalled.

Linux only (it reads /proc); elsewhere a record is empty and nothing is stopped.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int, int, str, int] | None:
    """(name, parent pid, start time, state, process group) of a process, or None if there is none."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, int(fields[1]), int(fields[19]), fields[0], int(fields[2])


def _boot_id() -> str:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _table() -> tuple[dict[int, tuple[str, int, int, str, int]], dict[int, list[int]]]:
    """Every live process's _stat, and the children of each pid."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[str, int, int, str, int]] = {}
    try:
        entries = [int(e.name) for e in PROC.iterdir() if e.name.isdigit()]
    except OSError:
        return {}, {}
    for p in entries:
        stat = _stat(p)
        if stat is not None and stat[3] != "Z":
            info[p] = stat
            children.setdefault(stat[1], []).append(p)
    return info, children


def _below(roots: list[int], info: dict[int, tuple[str, int, int, str, int]],
           children: dict[int, list[int]]) -> list[list[Any]]:
    found, todo = [], list(roots)
    while todo:
        p = todo.pop(0)
        found.append([p, info[p][2], info[p][0]])
        todo += children.get(p, [])
    return found


def descendants(pid: int | None = None) -> list[list[Any]]:
    """[pid, start time, name] of every live process below `pid` (default: this one), children first."""
    info, children = _table()
    return _below(children.get(os.getpid() if pid is None else pid, []), info, children)


def group(pgid: int) -> list[list[Any]]:
    """[pid, start time, name] of every live process in process group `pgid` and of every process below those
    (which may have groups of their own, as Ray's workers do)."""
    info, children = _table()
    members = sorted(p for p, stat in info.items() if stat[4] == pgid)
    found: dict[int, list[Any]] = {}  # a member below another member (an agent the raylet started) once
    for entry in _below(members, info, children):
        found.setdefault(entry[0], entry)
    return list(found.values())


def record(pid: int | None = None) -> dict[str, Any]:
    """A process (default: this one) and its descendants, as stored with the run."""
    pid = os.getpid() if pid is None else pid
    me = _stat(pid)
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "start": me[2] if me else 0,
            "children": descendants(pid)}


def alive(pid: int, start: int) -> bool:
    """Whether the process that started at `start` (clock ticks after boot) still runs as `pid` (a zombie does not)."""
    stat = _stat(pid)
    return stat is not None and stat[2] == start and stat[3] != "Z"


def here(rec: dict[str, Any] | None) -> bool:
    """Whether a record was made on this machine since its last boot (only then do its pids mean anything here)."""
    return bool(rec) and rec.get("host") == socket.gethostname() and rec.get("boot") == _boot_id() != ""


def owner_alive(rec: dict[str, Any] | None) -> bool:
    """Whether the recorded run's own process is still running (here)."""
    return here(rec) and alive(int(rec["pid"]), int(rec["start"]))  # type: ignore[index]


def leftovers(rec: dict[str, Any] | None) -> list[list[Any]]:
    """The recorded processes of a run whose own process is gone that are still running; [] while it runs."""
    if not here(rec) or owner_alive(rec):
        return []
    return [c for c in rec["children"] if c[0] != os.getpid() and alive(int(c[0]), int(c[1]))]  # type: ignore[index]


def _signal(pid: int, start: int, sig: int) -> bool:
    """Send sig to pid if it is still the process that started at `start`. Through a pidfd where there is one, so
    the pid cannot be reused between the check and the signal."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        if not alive(pid, start):
            return False
        if fd is not None:
            signal.pidfd_send_signal(fd, sig)
        else:
            os.kill(pid, sig)
        return True
    except OSError:
        return False
    finally:
        if fd is not None:
            os.close(fd)


def kill(procs: list[list[Any]]) -> list[list[Any]]:
    """SIGKILL each of `procs` that is still the recorded process, as a crash would end it (no clean-up runs);
    returns the ones that were signalled."""
    return [[pid, start, name] for pid, start, name in procs if _signal(pid, start, signal.SIGKILL)]


def stop(procs: list[list[Any]], grace: float = 3.0) -> list[list[Any]]:
    """SIGTERM each of `procs` that is still the recorded process, SIGKILL those still there after `grace` seconds;
    returns the ones that were signalled."""
    signalled = [[pid, start, name] for pid, start, name in procs if _signal(pid, start, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p, s) for p, s, _ in signalled):
        time.sleep(0.05)
    for pid, start, _ in signalled:
        _signal(pid, start, signal.SIGKILL)
    return signalled
