"""Packaging: `envs/` and `plugins/` ship as arena.envs and arena.plugins, in a plain wheel and in the editable install.

The wheel is built from a copy of the repository's files (without .venv, .git and build outputs), so the test never
writes build/ or *.egg-info into the working tree that other people and test runs share.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(".venv", "venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                 ".pytest_cache", "*.db", "*.db-wal", "*.db-shm", "*.pyc")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ARENA_BLOCK_PLUGINS", "PYTHONSAFEPATH")}
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=cwd, env=clean_env(**env))
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=IGNORED, symlinks=True)
    out = root / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
         "--disable-pip-version-check", "--no-input", "-q", "-w", str(out), str(source)], cwd=root)
    wheels = list(out.glob("arena-*.whl"))
    assert len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
         "--no-input", "-q", "--target", str(site), str(wheel)], cwd=site.parent)
    return site


def test_wheel_contains_the_mapped_packages(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for required in ("arena/__init__.py", "arena/cli/__init__.py", "arena/registry.py", "arena/envs/__init__.py",
                         "arena/envs/openspiel.py", "arena/envs/pettingzoo.py", "arena/envs/gymnasium.py",
                         "arena/plugins/__init__.py", "arena/plugins/mcts.py", "arena/plugins/alphabeta.py",
                         "arena/plugins/random_policy.py"):
            assert required in names, f"{required} missing from {wheel.name}"
        # envs/ and plugins/ are mapped under arena/, not shipped as top-level packages (nor tests).
        tops = {n.split("/")[0] for n in names}
        assert tops == {"arena", next(t for t in tops if t.endswith(".dist-info"))}, tops
        entry_points = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "[console_scripts]" in entry_points
    assert any(line.replace(" ", "") == "arena=arena.cli:main" for line in entry_points.splitlines()), entry_points


def test_every_repo_module_is_in_the_wheel(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    checked = 0
    for folder, package in (("arena", "arena"), ("envs", "arena/envs"), ("plugins", "arena/plugins")):
        for path in (REPO / folder).rglob("*.py"):  # subpackages too (arena/services/...): each must be listed
            relative = path.relative_to(REPO / folder).as_posix()
            assert f"{package}/{relative}" in names, f"{folder}/{relative} is not packaged as {package}/{relative}"
            checked += 1
    assert checked > 20, checked


PROBE = r"""
import json, sys
import arena, arena.envs, arena.plugins
import arena.envs.openspiel, arena.plugins.mcts
from arena.plugin_manager import get_plugin_manager
from arena.registry import Registry
from arena.match import play_game

reg = Registry(get_plugin_manager())
game = reg.make_game("openspiel/tic_tac_toe")
result = play_game(game, [reg.make_policy("mcts:simulations=5"), reg.make_policy("random")], 0)
print(json.dumps({
    "files": [arena.__file__, arena.envs.__file__, arena.plugins.__file__, arena.envs.openspiel.__file__,
              arena.plugins.mcts.__file__],
    "sys_path": sys.path,
    "envs": reg.ids("env"),
    "policies": reg.ids("policy"),
    "plugins": {k: [e.plugin for e in reg.entries(k).values()] for k in ("env", "policy")},
    "forfeits": {str(k): v for k, v in result.forfeits.items()},
}))
"""


def test_installed_wheel_imports_from_site_and_registers_everything(installed, tmp_path):
    from arena.registry import Registry

    proc = run([sys.executable, "-c", PROBE], cwd=tmp_path, PYTHONPATH=str(installed))
    doc = json.loads(proc.stdout)
    site = installed.resolve()
    for file in doc["files"]:
        assert Path(file).resolve().is_relative_to(site), f"{file} not imported from the installed wheel at {site}"
    repo = REPO.resolve()
    on_path = [p for p in doc["sys_path"] if p and Path(p).resolve() == repo]
    assert not on_path, f"the repository is on sys.path: {doc['sys_path']}"
    assert Path(doc["files"][3]).as_posix().endswith("arena/envs/openspiel.py")
    assert Path(doc["files"][4]).as_posix().endswith("arena/plugins/mcts.py")

    local = Registry()
    assert doc["envs"] == local.ids("env")
    assert doc["policies"] == local.ids("policy")
    assert "openspiel/connect_four-v0" in doc["envs"] and "pettingzoo/chess_v6" in doc["envs"]
    assert {"mcts", "alphabeta", "random"} <= set(doc["policies"])
    assert "arena.envs.openspiel" in doc["plugins"]["env"] and "arena.plugins.mcts" in doc["plugins"]["policy"]
    assert doc["forfeits"] == {}


def test_installed_console_script_runs(installed, tmp_path):
    script = installed / "bin" / "arena"
    if not script.exists():
        pytest.skip(f"pip put no console script at {script}")
    proc = run([str(script), "envs", "--json"], cwd=tmp_path, PYTHONPATH=str(installed))
    assert "openspiel/connect_four-v0" in {r["id"] for r in json.loads(proc.stdout)}


EDITABLE_PROBE = r"""
import json, importlib.metadata
import arena, arena.envs, arena.plugins, arena.envs.openspiel, arena.plugins.mcts
eps = [ep.value for ep in importlib.metadata.entry_points(group="console_scripts") if ep.name == "arena"]
print(json.dumps({"arena": arena.__file__, "envs": arena.envs.__file__, "plugins": arena.plugins.__file__,
                  "openspiel": arena.envs.openspiel.__file__, "mcts": arena.plugins.mcts.__file__,
                  "console_scripts": eps}))
"""


def test_editable_install_maps_envs_and_plugins_to_repo_folders(tmp_path):
    proc = run([sys.executable, "-c", EDITABLE_PROBE], cwd=tmp_path)  # outside the repo, no PYTHONPATH
    doc = json.loads(proc.stdout)
    repo = REPO.resolve()
    assert Path(doc["arena"]).resolve() == repo / "arena" / "__init__.py"
    assert Path(doc["envs"]).resolve() == repo / "envs" / "__init__.py"
    assert Path(doc["plugins"]).resolve() == repo / "plugins" / "__init__.py"
    assert Path(doc["openspiel"]).resolve() == repo / "envs" / "openspiel.py"
    assert Path(doc["mcts"]).resolve() == repo / "plugins" / "mcts.py"
    assert doc["console_scripts"] == ["arena.cli:main"]


def test_editable_mapping_in_this_process():
    import arena.envs
    import arena.plugins

    assert Path(arena.envs.__file__).resolve().parent == REPO.resolve() / "envs"
    assert Path(arena.plugins.__file__).resolve().parent == REPO.resolve() / "plugins"
