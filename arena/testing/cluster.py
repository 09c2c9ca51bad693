"""A real Ray cluster of two nodes on this one machine, for tests that need a second node to play on and to lose.

    from arena.testing.cluster import two_node_cluster

    with two_node_cluster(env={"PYTHONPATH": src}) as cluster:   # `ray start --head` and a second `ray start`
        run(["arena", "match", ..., "--ray-address", cluster.address], env={**os.environ, **cluster.env})
        cluster.kill_second_node()          # its raylet with SIGKILL, then its workers and agents: a lost machine

Each node is one `ray start` in a process group of its own and a temporary folder of its own. Leaving the block
stops every process those two commands started (the group's members and everything below them, Ray's workers
included), by process id: never `ray stop`, which stops every Ray on the machine, other people's too.

Two nodes on one host need (found with Ray 2.60):
- a --temp-dir each (Ray now honours it off the head; older versions ignored it there, with a warning);
- a dashboard-agent port each (both default to 52365);
- a node IP each: the second is 127.0.0.2 on the loopback (the head takes the machine's IP; Ray turns 127.0.0.1 into
  it), so that a driver on this machine attaches to the head's raylet, not to the node a test kills, and games
  report two IPs;
- the same token authentication on both, and on every driver that joins: left to itself, a head that finds
  ~/.ray/auth_token (which any local ray.init on the machine writes) turns it on and a second node may not send
  it; with it off, a driver that sends a token refuses the workers' calls back to it (its actors die unstarted).
  So the cluster has a token of its own (token mode, RAY_AUTH_TOKEN_PATH), and a driver joins with `cluster.env`.
The head gets free ports of its own (GCS, dashboard), so the cluster stays apart from any other Ray on the machine,
and its GCS declares a node dead after about a second of failed health checks (Ray's default: 15 s), so that a
test sees a lost node's actors die soon after the kill.

Linux only (processes are found through /proc). Ray's processes inherit this process's environment plus `env`:
put the source folders of code under test on PYTHONPATH there.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arena import processes
from arena.errors import UsageError

# Added to the environment of every Ray process of the cluster (the caller's `env` wins): a node is declared dead
# after ~1 s of failed health checks instead of 15 s.
HEALTH_CHECKS = {"RAY_health_check_period_ms": "300", "RAY_health_check_timeout_ms": "300",
                 "RAY_health_check_failure_threshold": "3"}


class ClusterError(UsageError):
    """A node that would not start, or a machine where this cannot run."""


@dataclass(frozen=True)
class Node:
    """One `ray start`: its process group (raylet, agents, log monitor; on the head the GCS too) and its raylet."""

    ip: str
    node_id: str
    group: int
    raylet: int
    temp_dir: Path

    def processes(self) -> list[list[Any]]:
        """[pid, start time, name] of each live process of this node: the group's and their descendants (workers)."""
        return processes.group(self.group)


@dataclass(frozen=True)
class Cluster:
    address: str  # for --ray-address and ray.init(address=...)
    head: Node
    second: Node
    env: Mapping[str, str]  # what a driver's environment needs to join (the cluster's token), before ray is imported

    @property
    def node_ids(self) -> tuple[str, str]:
        return self.head.node_id, self.second.node_id

    def kill_second_node(self, timeout: float = 10.0) -> list[int]:
        """Kill the second node as a crash would (SIGKILL, no clean-up): its raylet first, then its workers, agents
        and log monitor, found before the raylet died (its workers would then belong to no one). Returns the pids,
        once they are gone."""
        procs = self.second.processes()
        raylet = [p for p in procs if p[0] == self.second.raylet]
        killed = processes.kill(raylet) + processes.kill([p for p in procs if p[0] != self.second.raylet])
        deadline = time.monotonic() + timeout
        while any(processes.alive(pid, start) for pid, start, _ in killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [pid for pid, _, _ in killed]

    def wait_for_nodes(self, alive: int, timeout: float = 30.0) -> None:
        """Wait until the GCS counts `alive` live nodes (a node that was just started registers a moment later)."""
        script = ("import sys, time, ray; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False)\n"
                  "deadline = time.monotonic() + float(sys.argv[3])\n"
                  "while sum(n['Alive'] for n in ray.nodes()) != int(sys.argv[2]):\n"
                  "    if time.monotonic() > deadline: sys.exit('timed out')\n"
                  "    time.sleep(0.1)\n")
        done = subprocess.run([sys.executable, "-c", script, self.address, str(alive), str(timeout)],
                              env={**os.environ, **self.env}, capture_output=True, text=True, timeout=timeout + 30)
        if done.returncode != 0:
            raise ClusterError(f"The Ray cluster at {self.address} did not reach {alive} live nodes: "
                               f"{_last_line(done.stderr)}")


@contextlib.contextmanager
def two_node_cluster(num_cpus: int = 1, second_num_cpus: int | None = None, *, second_ip: str = "127.0.0.2",
                     env: Mapping[str, str] | None = None, second_env: Mapping[str, str] | None = None,
                     keep_logs: bool = False) -> Iterator[Cluster]:
    """Start `ray start --head` and a second node joined to it, each with `num_cpus` CPUs (the second:
    `second_num_cpus`, default the same) and no dashboard; yield the Cluster; stop all of it by process id.

    `env` is added to the environment of every Ray process (workers included), `second_env` to the second node's
    only (a node set up unlike the head, such as one without a plugin: ARENA_BLOCK_PLUGINS). With `keep_logs`, the nodes'
    temporary folders (session logs) are left behind for a post-mortem; by default they are removed.
    """
    if sys.platform != "linux":
        raise ClusterError("arena.testing.cluster runs on Linux only (it finds Ray's processes through /proc).")
    if importlib.util.find_spec("ray") is None:
        raise ClusterError("This needs Ray, which is not installed: pip install 'arena[train]'.")
    root = Path(tempfile.mkdtemp(prefix="arena-cluster-"))
    nodes: list[Node] = []
    try:
        token = root / "auth_token"
        token.touch(mode=0o600)
        token.write_text(secrets.token_hex(32))
        auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        environ = {**os.environ, **HEALTH_CHECKS, **auth, **dict(env or {})}
        port = _free_port()
        nodes.append(_start(["--head", f"--port={port}", "--include-dashboard=false",
                             f"--dashboard-port={_free_port()}"], num_cpus, root / "head", environ))
        address = f"{nodes[0].ip}:{port}"
        nodes.append(_start([f"--address={address}", f"--node-ip-address={second_ip}"],
                            num_cpus if second_num_cpus is None else second_num_cpus, root / "second",
                            {**environ, **dict(second_env or {})}))
        cluster = Cluster(address, nodes[0], nodes[1], auth)
        cluster.wait_for_nodes(2)
        yield cluster
    finally:
        for node in reversed(nodes):
            processes.stop(node.processes(), grace=2.0)
        if not keep_logs:
            shutil.rmtree(root, ignore_errors=True)


def _start(args: list[str], num_cpus: int, temp_dir: Path, environ: Mapping[str, str]) -> Node:
    """One `ray start` in a new session (so a process group of its own), to its raylet's Node."""
    temp_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", *args, f"--num-cpus={num_cpus}",
               f"--temp-dir={temp_dir}", f"--dashboard-agent-listen-port={_free_port()}", "--disable-usage-stats"]
    proc = subprocess.Popen(command, env=dict(environ), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    started = processes.group(proc.pid)  # the session's id is the pid of `ray start`, which has exited
    raylet = next((p for p in started if p[2] == "raylet"), None)
    if proc.returncode != 0 or raylet is None:
        processes.stop(started, grace=2.0)
        raise ClusterError(f"`ray start {args[0]}` failed (exit code {proc.returncode}): {_last_line(out)}")
    flags = _flags(raylet[0])
    return Node(flags["node_ip_address"], flags["node_id"], proc.pid, raylet[0], temp_dir)


def _flags(pid: int) -> dict[str, str]:
    """A process's `--name=value` arguments."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
