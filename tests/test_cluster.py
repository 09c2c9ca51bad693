"""Match play on a real Ray cluster of two nodes (arena.testing.cluster): games spread over both nodes, a node lost
mid-run loses no game, a plugin that kills its worker ends as errors, and the cluster leaves no process behind.

Each match is an `arena match --ray-address ... --db ... --json` process: the driver, and the only writer of the
store, while the games run on Ray actors on the two nodes. `make test-cluster` runs just these tests.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.match import game_seed
from arena.testing.cluster import Cluster, ClusterError, two_node_cluster

ARENA = str(Path(sys.executable).with_name("arena"))
C4 = "openspiel/connect_four"
STRONG = "mcts:simulations=300"
MISSING_THERE = "arena.plugins.alphabeta"  # the second node's plugin block list  # ~0.2 s a game against itself on one core here: a chunk of 8 takes a second or two

# An installed third-party plugin, as far as importlib.metadata can tell (a dist-info folder on PYTHONPATH), so that
# Ray workers on both nodes find it through the `arena` entry points as they find any plugin.
CRASHING_PLUGIN = '''
"""A policy whose first move kills the process that plays it, as a segfault in native code would; and, while the
file BROKEN is next to this one, a plugin that fails to import in Ray workers (a node where it is not installed)."""
import os
import signal
import sys

from arena import hookimpl

if os.path.exists(os.path.join(os.path.dirname(__file__), "BROKEN")) and sys.argv[0].endswith("default_worker.py"):
    raise ImportError("arena_clustertest is broken on this node")


def crash(observation, action_mask):
    os.kill(os.getpid(), signal.SIGKILL)


@hookimpl
def register_policies(register):
    register("clustertest/crash", crash, description="Kills its own process at its first move.")
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> str:
    """PYTHONPATH for the Ray processes and the `arena` commands: the crashing plugin, then what this process has."""
    site = tmp_path_factory.mktemp("site")
    (site / "arena_clustertest.py").write_text(textwrap.dedent(CRASHING_PLUGIN))
    dist = site / "arena_clustertest-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: arena-clustertest\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[arena]\nclustertest = arena_clustertest\n")
    return os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)


@pytest.fixture(scope="module")
def cluster(plugin_path) -> Iterator[Cluster]:
    """One cluster for the module; the test that kills the second node comes last."""
    pytest.importorskip("ray")
    # 2 CPUs a node: a league's two EnvRunners and its two evaluation actors fill all four. The second node lacks the
    # alpha-beta plugin (blocked there), as a node where a plugin is not installed.
    with two_node_cluster(num_cpus=2, env={"PYTHONPATH": plugin_path},
                          second_env={"ARENA_BLOCK_PLUGINS": MISSING_THERE}) as cluster:
        yield cluster
    for node in (cluster.head, cluster.second):
        assert node.processes() == [], f"left running: {node.processes()}"


def test_without_ray_starting_a_cluster_is_refused_in_one_line(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    with pytest.raises(ClusterError) as refused, two_node_cluster():
        pass
    assert str(refused.value) == "This needs Ray, which is not installed: pip install 'arena[train]'."


def test_the_table_ends_with_where_the_games_ran():
    from arena.cli.match import nodes_line

    assert nodes_line({"10.0.0.5": 120, "10.0.0.6": 80}, []) == \
        "Played on 2 Ray nodes: 10.0.0.5 120 games, 10.0.0.6 80 games."
    lost = [{"game": 3, "lost_on": ["10.0.0.6"], "played_on": "10.0.0.5"}]
    assert nodes_line({"10.0.0.5": 1}, lost) == \
        "Played on 1 Ray node: 10.0.0.5 1 game; 1 played again after their Ray worker or node was lost."


def start_match(cluster: Cluster, plugin_path: str, db: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **cluster.env, "PYTHONPATH": plugin_path}
    return subprocess.Popen([ARENA, "match", C4, *args, "--ray-address", cluster.address, "--db", str(db), "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> dict:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"arena match hung; stderr ends: {err[-2000:]}")
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out)


def stored(db: Path) -> list[tuple]:
    """(seed, status) of every stored game, read the way a second reader would while the match writes."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
        try:
            return con.execute("SELECT seed, status FROM matches ORDER BY seq").fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


def test_a_plugin_that_kills_its_ray_worker_ends_as_errors_after_one_retry(cluster, plugin_path, tmp_path):
    """Each chunk's actor dies with its process (the node lives on): the chunk is played once more on a fresh
    actor, then its games are errors; nothing hangs waiting for an actor, and every game is stored once."""
    doc = finish(start_match(cluster, plugin_path, tmp_path / "crash.db", "clustertest/crash", "random", "-n", "16",
                             "--seed", "5"), timeout=90)
    assert doc["games_played"] == doc["games_failed"] == 16
    assert all("died while playing this game, 2 times" in e["error"] for e in doc["errors"]), doc["errors"][:2]
    assert doc["nodes"] == {}  # no game finished anywhere
    assert len(doc["replayed"]) == 16 and all(len(r["lost_on"]) == 2 and r["played_on"] is None
                                              for r in doc["replayed"])
    assert stored(tmp_path / "crash.db") == [(game_seed(5, i), "error") for i in range(16)]


def test_a_plugin_that_does_not_load_on_the_workers_stops_the_match_with_one_line(cluster, plugin_path, tmp_path):
    broken = Path(plugin_path.split(os.pathsep)[0]) / "BROKEN"
    broken.touch()
    try:
        proc = start_match(cluster, plugin_path, tmp_path / "broken.db", "random", "random", "-n", "16")
        out, err = proc.communicate(timeout=60)
    finally:
        broken.unlink()
    # one line that names the plugin and says why (before any game, where the nodes are checked up front, or when
    # the first worker fails to start)
    assert proc.returncode in (1, 2) and out == "", err
    (line,) = err.strip().splitlines()
    assert line.startswith("Error: ") and "Plugin 'clustertest'" in line and "broken on this node" in line, err


def test_a_node_without_a_plugin_the_match_needs_is_one_line_naming_it(cluster, plugin_path, tmp_path):
    proc = start_match(cluster, plugin_path, tmp_path / "missing.db", "alphabeta:depth=1", "random", "-n", "4")
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 2 and out == "", err
    (line,) = err.strip().splitlines()
    assert line == (f"Error: Ray node {cluster.second.ip} lacks the Arena plugin '{MISSING_THERE}', which policy "
                    "alphabeta:depth=1 needs: install it there (or unblock it), or let Arena ship it "
                    "(ARENA_RAY_SHIP=on)."), err
    assert not (tmp_path / "missing.db").exists() or stored(tmp_path / "missing.db") == []


LEAGUE = """
name = "cluster_league"
env = "openspiel/kuhn_poker"
seed = 3

[[learners]]
name = "main"
hidden = [16]
hyperparameters = {{ train_batch_size_per_learner = 256, minibatch_size = 128, num_epochs = 1 }}

[[learners]]
name = "exploiter"
role = "main_exploiter"
hidden = [16]
hyperparameters = {{ train_batch_size_per_learner = 256, minibatch_size = 128, num_epochs = 1 }}

[[fixed]]
policy = "random"

[round]
iterations = 1

[evaluation]
games = 10

[resources]
num_env_runners = 1
num_envs_per_env_runner = 4
eval_workers = 2
ray_address = "{address}"

[stop]
rounds = 1
"""


def test_a_league_trains_its_learners_at_once_and_evaluates_across_both_nodes(cluster, plugin_path, tmp_path):
    """Two learners with an EnvRunner each and two evaluation actors fill the cluster's four CPUs, so both nodes
    work; the learners train at the same time; only the driver writes the store, every game once."""
    league, db = tmp_path / "league.toml", tmp_path / "league.db"
    league.write_text(LEAGUE.format(address=cluster.address))
    env = {**os.environ, **cluster.env, "PYTHONPATH": plugin_path}
    done = subprocess.run([ARENA, "league", "run", str(league), "--db", str(db), "--run-dir", str(tmp_path / "runs")],
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stderr
    assert "round 1: 2 learners train at the same time on the Ray cluster." in log, log[-3000:]
    nodes, played = set(), 0
    for line in log.splitlines():
        if " samples on 1 EnvRunner on Ray node " in line:
            nodes.add(line.rstrip(".").rpartition(" ")[2])
        if "evaluation played on" in line:  # "round 1: evaluation played on 2 Ray nodes: IP 24 games, IP 16 games."
            for part in line.partition("nodes: ")[2].rstrip(".").split(", "):
                node, games, _ = part.split(" ")
                nodes.add(node)
                played += int(games)
    assert nodes == {cluster.head.ip, cluster.second.ip}, log[-3000:]
    with sqlite3.connect(db) as con:
        ok, errors = con.execute("SELECT SUM(status = 'ok'), SUM(status = 'error') FROM matches").fetchone()
    assert played > 0 and ok == played and errors == 0  # every game played on the nodes was stored, once


def test_a_match_survives_losing_the_second_node_mid_run(cluster, plugin_path, tmp_path):
    """Games run on both nodes; the second node is killed (raylet, workers, agents) a third of the way in. Its
    chunks in flight are played again on the head, the match finishes, and the store holds every game once."""
    games, seed, db = 144, 7, tmp_path / "arena.db"
    head, second = cluster.head.ip, cluster.second.ip
    assert head != second
    proc = start_match(cluster, plugin_path, db, STRONG, STRONG, "-n", str(games), "--seed", str(seed))
    deadline = time.monotonic() + 90
    while len(stored(db)) < 48:  # stored in game order: six chunks done, some of them on the second node
        assert proc.poll() is None and time.monotonic() < deadline, "the match ended or stalled before the kill"
        time.sleep(0.2)
    killed = cluster.kill_second_node()
    assert cluster.second.raylet in killed and cluster.second.processes() == []
    doc = finish(proc)

    assert doc["games_played"] == games and doc["games_failed"] == 0 and not doc["interrupted"]
    assert doc["stored"]["new"] == games and doc["stored"]["already_stored"] == 0  # each game reached the store once
    assert stored(db) == [(game_seed(seed, i), "ok") for i in range(games)]
    assert set(doc["nodes"]) == {head, second} and sum(doc["nodes"].values()) == games
    assert doc["nodes"][second] >= 8, doc["nodes"]  # at least a chunk finished there before the kill
    # the chunks the second node had in flight (one at a time per actor) were played again, on the head
    replayed = doc["replayed"]
    assert replayed and len(replayed) % 8 == 0, replayed
    assert all(r["lost_on"] == [second] and r["played_on"] == head for r in replayed), replayed
