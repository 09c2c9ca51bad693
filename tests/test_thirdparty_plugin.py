"""A third-party plugin, built and pip-installed for real into a temporary folder, seen by the installed `arena` CLI.

Each scenario (a good plugin, a duplicate id, a plugin that fails to import, a misspelt hook) is its own package,
installed with `pip install --target` into its own folder and put on PYTHONPATH for the CLI subprocess only, so
the virtualenv itself never changes.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ARENA_SCRIPT = BIN / ("arena.exe" if os.name == "nt" else "arena")
ARENA = [str(ARENA_SCRIPT)] if ARENA_SCRIPT.exists() else [sys.executable, "-c", "from arena.cli import main; main()"]

GOOD_PLUGIN = '''
"""A third-party Arena plugin: Nim from OpenSpiel and two tiny policies."""
import numpy as np

from arena import hookimpl


def nim(**params):
    import pyspiel

    return pyspiel.load_game("nim", params)


def take_most(obs, mask):
    """A plain function of (observation, action mask): the highest legal action."""
    return int(np.flatnonzero(mask)[-1])


class TakeLeast:
    """An object with act: the lowest legal action."""

    def act(self, observation, action_mask):
        assert observation is not None
        return int(np.flatnonzero(action_mask)[0])


@hookimpl
def register_envs(register):
    register("mythird/nim-v0", nim, description="Nim (OpenSpiel) from a third-party plugin.")


@hookimpl
def register_policies(register):
    register("mythird/take-most", take_most, description="Highest legal action (a plain function).")
    register("mythird/take-least", TakeLeast(), description="Lowest legal action (an object with act).")
'''

DUPLICATE_PLUGIN = '''
from arena import hookimpl


def always_zero(obs, mask):
    return 0


@hookimpl
def register_policies(register):
    register("random", always_zero, description="Not random at all.")
'''

BROKEN_IMPORT_PLUGIN = '''
from arena import hookimpl

raise RuntimeError("boom while importing the mybroken plugin")
'''

MISSPELT_HOOK_PLUGIN = '''
from arena import hookimpl


@hookimpl
def register_env(register):  # the hook is register_envs
    register("mytypo/nothing-v0", lambda: None)
'''


def install_plugin(root: Path, ep_name: str, source: str) -> Path:
    """Write a setuptools package declaring `[project.entry-points.arena] ep_name = module` and pip-install it."""
    module = f"arena_{ep_name}_plugin"
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "arena-{ep_name}-plugin"
        version = "0.1.0"
        description = "A throwaway third-party Arena plugin for tests."
        requires-python = ">=3.9"

        [project.entry-points.arena]
        {ep_name} = "{module}"

        [tool.setuptools]
        py-modules = ["{module}"]
    """))
    (pkg / f"{module}.py").write_text(source)
    site = root / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-cache-dir",
         "--disable-pip-version-check", "--no-input", "-q", "--target", str(site), str(pkg)],
        capture_output=True, text=True, timeout=300, cwd=root,
    )
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    assert list(site.glob(f"arena_{ep_name}_plugin-0.1.0.dist-info/entry_points.txt")), sorted(os.listdir(site))
    return site


def run_arena(args: list[str], cwd: Path, site: Path | None = None, block: str | None = None,
              ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ARENA_BLOCK_PLUGINS")}
    env["NO_COLOR"] = "1"
    if site is not None:
        env["PYTHONPATH"] = str(site)
    if block is not None:
        env["ARENA_BLOCK_PLUGINS"] = block
    return subprocess.run(ARENA + args, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def json_of(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return json.loads(proc.stdout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The CLI failed with exactly one line on stderr and no traceback; returns that line."""
    assert proc.returncode != 0, f"expected a failure, got exit 0\nstdout: {proc.stdout}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# A good plugin
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("mythird")
    return root, install_plugin(root, "mythird", GOOD_PLUGIN)


def test_thirdparty_env_is_listed(good):
    root, site = good
    rows = {r["id"]: r for r in json_of(run_arena(["envs", "--json"], root, site))}
    assert rows["mythird/nim-v0"]["plugin"] == "mythird"
    assert rows["mythird/nim-v0"]["description"] == "Nim (OpenSpiel) from a third-party plugin."
    assert set(rows["mythird/nim-v0"]) >= {"id", "plugin", "description", "params"}
    assert rows["openspiel/connect_four-v0"]["plugin"] == "arena.envs.openspiel"  # built-ins still there


def test_thirdparty_policies_are_listed(good):
    root, site = good
    rows = {r["id"]: r for r in json_of(run_arena(["policies", "--json"], root, site))}
    for policy_id in ("mythird/take-most", "mythird/take-least"):
        assert rows[policy_id]["plugin"] == "mythird"
        assert rows[policy_id]["params"] == {}
    assert rows["random"]["plugin"] == "arena.plugins.random_policy"


def test_thirdparty_plugin_is_listed_with_its_distribution(good):
    root, site = good
    rows = {r["name"]: r for r in json_of(run_arena(["plugins", "--json"], root, site))}
    row = rows["mythird"]
    assert re.search(r"arena[-_]mythird[-_]plugin", row["source"], re.I) and "0.1.0" in row["source"], row
    assert {"register_envs", "register_policies"} <= set(row["hooks"])
    assert row["registered"] == {"envs": ["mythird/nim-v0"],
                                 "policies": ["mythird/take-most", "mythird/take-least"]}
    assert rows["arena.envs.openspiel"]["source"] == "built-in"


def test_thirdparty_match_plays_without_forfeits(good):
    root, site = good
    doc = json_of(run_arena(["match", "mythird/nim-v0", "mythird/take-most", "mythird/take-least",
                             "--games", "4", "--seed", "1", "--json"], root, site))
    assert doc["env"] == "mythird/nim-v0"
    assert doc["seed"] == 1
    assert doc["games_played"] == 4
    assert doc["participants"] == ["mythird/take-most", "mythird/take-least"]
    assert doc["forfeits"] == []
    assert len(doc["results"]) == 4 and all(r["forfeits"] == {} for r in doc["results"])
    standings = {s["player"]: s for s in doc["standings"]}
    assert set(standings) == set(doc["participants"])
    for s in standings.values():
        assert s["games"] == 4 and s["forfeits"] == 0
        assert s["draws"] == 0 and s["wins"] + s["losses"] == 4  # Nim has no draws
    # every game has one winner, the player with the top return, and the standings credit exactly those wins
    winners = [r["players"][r["returns"].index(max(r["returns"]))] for r in doc["results"]]
    assert {p: s["wins"] for p, s in standings.items()} == {p: winners.count(p) for p in standings}
    # Both policies are deterministic, so each result depends only on who sits first; seats rotate.
    assert [r["players"][0] for r in doc["results"]] == ["mythird/take-most", "mythird/take-least"] * 2
    assert doc["results"][0]["returns"] == doc["results"][2]["returns"]


def test_venv_itself_does_not_see_the_plugin(good):
    root, _ = good
    ids = {r["id"] for r in json_of(run_arena(["envs", "--json"], root))}
    assert "mythird/nim-v0" not in ids and "openspiel/connect_four-v0" in ids


def test_blocking_the_good_plugin_hides_it(good):
    root, site = good
    ids = {r["id"] for r in json_of(run_arena(["policies", "--json"], root, site, block="mythird"))}
    assert "mythird/take-most" not in ids and "random" in ids


# ---------------------------------------------------------------------------------------------------------------
# Broken plugins: one line naming what to do, never a traceback
# ---------------------------------------------------------------------------------------------------------------
def test_duplicate_id_names_both_plugins(tmp_path):
    site = install_plugin(tmp_path, "mydup", DUPLICATE_PLUGIN)
    proc = run_arena(["policies"], tmp_path, site)
    line = one_line_error(proc)
    assert proc.stdout.strip() == ""
    assert "'random'" in line
    assert "mydup" in line and "arena.plugins.random_policy" in line, line
    # Blocking either side resolves it.
    rows = {r["id"]: r for r in json_of(run_arena(["policies", "--json"], tmp_path, site, block="mydup"))}
    assert rows["random"]["plugin"] == "arena.plugins.random_policy"
    rows = {r["id"]: r for r in json_of(run_arena(["policies", "--json"], tmp_path, site,
                                                  block="arena.plugins.random_policy"))}
    assert rows["random"]["plugin"] == "mydup"


def test_plugin_failing_at_import_is_one_line_and_can_be_blocked(tmp_path):
    site = install_plugin(tmp_path, "mybroken", BROKEN_IMPORT_PLUGIN)
    line = one_line_error(run_arena(["envs"], tmp_path, site))
    assert "mybroken" in line and "ARENA_BLOCK_PLUGINS" in line, line
    assert "boom while importing" in line, line
    ids = {r["id"] for r in json_of(run_arena(["envs", "--json"], tmp_path, site, block="mybroken"))}
    assert "openspiel/connect_four-v0" in ids


def test_misspelt_hook_is_caught_in_one_line(tmp_path):
    site = install_plugin(tmp_path, "mytypo", MISSPELT_HOOK_PLUGIN)
    line = one_line_error(run_arena(["envs"], tmp_path, site))
    assert "register_env" in line and "mytypo" in line, line
    ids = {r["id"] for r in json_of(run_arena(["envs", "--json"], tmp_path, site, block="mytypo"))}
    assert "openspiel/connect_four-v0" in ids and "mytypo/nothing-v0" not in ids


def test_misspelt_hook_message_names_the_plugin_the_right_hook_and_the_way_out(tmp_path):
    site = install_plugin(tmp_path, "mytypo", MISSPELT_HOOK_PLUGIN)
    line = one_line_error(run_arena(["envs"], tmp_path, site))
    assert "Plugin 'mytypo'" in line and "Did you mean 'register_envs'" in line, line
    assert "ARENA_BLOCK_PLUGINS=mytypo" in line, line
