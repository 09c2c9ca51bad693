"""Joining a Ray cluster, without one: the address from the flag, $ARENA_RAY_ADDRESS or a league file; one line for an
address nobody listens on; what is shipped to the nodes (a real wheel build); the node check's verdicts."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.config import load
from arena.errors import UsageError
from arena.plugins import ray_ship
from arena.registry import Registry

ARENA = [str(Path(sys.executable).with_name("arena"))]
DRIVER = {"python": "3.11.9", "ray": "2.60.0", "arena": "0.1.0"}


def node(**changes):
    return {**DRIVER, "plugins": ["arena.envs.openspiel", "arena.plugins.connect_four"], "error": None,
            "where": "10.0.0.7", **changes}


def test_a_node_like_this_machine_with_the_plugins_needed_passes():
    needs = {"arena.envs.openspiel": "game openspiel/connect_four"}
    assert ray_ship.problems(DRIVER, {"n1": node(python="3.11.4")}, needs) == []  # patch releases may differ


@pytest.mark.parametrize("key,value,name", [("python", "3.12.1", "Python"), ("ray", "2.49.0", "Ray"),
                                            ("arena", "0.2.0", "Arena")])
def test_a_node_with_another_version_is_one_line_naming_the_node_and_both_versions(key, value, name):
    [line] = ray_ship.problems(DRIVER, {"n1": node(**{key: value})}, {})
    assert line.startswith(f"Ray node 10.0.0.7 runs {name} {value}, this machine {DRIVER[key]}")


def test_a_node_without_a_plugin_the_job_needs_names_the_plugin_and_what_needs_it():
    needs = {"arena.plugins.mcts": "policy mcts:simulations=50", "arena.envs.openspiel": "game openspiel/connect_four"}
    [line] = ray_ship.problems(DRIVER, {"n1": node()}, needs)
    assert "lacks the Arena plugin 'arena.plugins.mcts', which policy mcts:simulations=50 needs" in line
    assert "10.0.0.7" in line
    # a plugin no job needs is not a problem
    assert ray_ship.problems(DRIVER, {"n1": node(plugins=["arena.envs.openspiel"])},
                             {"arena.envs.openspiel": "game"}) == []


def test_a_node_that_could_not_answer_or_load_plugins_is_reported():
    lines = ray_ship.problems(DRIVER, {"n1": {"unreachable": "no answer within 120 s"},
                                       "n2": node(error="ImportError: no module named foo")}, {"x": "game g"})
    assert lines[0] == "Ray node n1 did not run Arena's check: no answer within 120 s."
    assert lines[1] == "Ray node 10.0.0.7 cannot load Arena's plugins: ImportError: no module named foo."


def test_needs_of_names_the_plugins_of_the_game_and_policies_and_skips_remote_agents():
    needs = ray_ship.needs_of(Registry(), "openspiel/connect_four", ["connect_four_heuristic", "mcts:simulations=5",
                                                                      "exec:python agent.py", "no_such_policy"])
    assert needs["arena.envs.openspiel"] == "game openspiel/connect_four"
    assert needs["arena.plugins.connect_four"] == "policy connect_four_heuristic"
    assert needs["arena.plugins.mcts"] == "policy mcts:simulations=5"
    assert len(needs) == 3


def test_ship_setting_accepts_on_and_off_and_refuses_anything_else():
    assert ray_ship.ships_code({}) is True
    assert ray_ship.ships_code({ray_ship.SHIP_ENV_VAR: "off"}) is False
    with pytest.raises(UsageError, match="ARENA_RAY_SHIP is 'on'"):
        ray_ship.ships_code({ray_ship.SHIP_ENV_VAR: "sometimes"})


@pytest.mark.slow
def test_the_staged_code_is_arena_with_its_mapped_plugins_and_entry_points(tmp_path):
    modules = [Path(m) for m in ray_ship.stage_code(tmp_path)]
    package = next(m for m in modules if m.name == "arena")
    assert (package / "plugins" / "connect_four.py").is_file()  # arena.plugins comes from plugins/
    assert (package / "envs" / "openspiel.py").is_file()
    info = next(m for m in modules if m.name.startswith("arena-") and m.name.endswith(".dist-info"))
    assert "[arena]" in (info / "entry_points.txt").read_text() or (info / "METADATA").is_file()


def test_settings_sent_to_workers_make_the_snapshot_folder_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARENA_SNAPSHOTS", "snaps")
    monkeypatch.delenv("ARENA_BLOCK_PLUGINS", raising=False)
    assert ray_ship.settings_env() == {"ARENA_SNAPSHOTS": str(tmp_path / "snaps")}
    monkeypatch.setenv("ARENA_BLOCK_PLUGINS", "arena.plugins.mcts")
    assert ray_ship.settings_env()["ARENA_BLOCK_PLUGINS"] == "arena.plugins.mcts"


def test_the_league_file_names_a_cluster_under_ray_address(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "c"\nenv = "openspiel/kuhn_poker"\n[[learners]]\nname = "main"\n[[fixed]]\n'
                    'policy = "random"\n[stop]\nrounds = 1\n[resources]\nray_address = "10.0.0.5:6379"\n')
    assert load(path, Registry()).resources["address"] == "10.0.0.5:6379"


def _run(args, env=None, timeout=60):
    started = time.monotonic()
    done = subprocess.run(ARENA + args, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return done, time.monotonic() - started


@pytest.mark.parametrize("how", ["flag", "env"])
def test_an_address_nobody_listens_on_is_one_line_at_once(how, tmp_path):
    args = ["match", "openspiel/connect_four", "random", "random", "--db", str(tmp_path / "a.db")]
    address = "127.0.0.1:9"  # discard: nothing listens there
    done, took = _run(args + ["--ray-address", address] if how == "flag" else args,
                      env={"ARENA_RAY_ADDRESS": address} if how == "env" else None)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Cannot reach a Ray cluster at '127.0.0.1:9'"), done.stderr
    assert "Traceback" not in done.stderr and took < 30
    assert done.stdout == ""  # no match was played


def test_a_league_run_on_an_unreachable_cluster_is_one_line(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "c"\nenv = "openspiel/kuhn_poker"\n[[learners]]\nname = "main"\n[[fixed]]\n'
                    'policy = "random"\n[stop]\nrounds = 1\n[resources]\nray_address = "127.0.0.1:9"\n')
    done, took = _run(["league", "run", str(path), "--db", str(tmp_path / "l.db"), "--run-dir", str(tmp_path)])
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert done.returncode != 0 and len(errors) == 1 and "Cannot reach a Ray cluster at '127.0.0.1:9'" in errors[0]
    assert "Traceback" not in done.stderr and took < 45


def test_a_token_at_hand_is_sent_to_clusters(tmp_path):
    (tmp_path / ".ray").mkdir()
    code = "from arena import logs; logs.quiet(False); import os; print(os.environ.get('RAY_AUTH_MODE'))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    without = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(tmp_path)}, capture_output=True,
                             text=True, check=True)
    (tmp_path / ".ray" / "auth_token").write_text("x" * 64)
    with_token = subprocess.run([sys.executable, "-c", code], env={**env, "HOME": str(tmp_path)}, capture_output=True,
                                text=True, check=True)
    assert without.stdout.strip() == "None" and with_token.stdout.strip() == "token"
