"""What the nodes of a Ray cluster need from the driver's machine, and the check that they have it.

Code: Arena and every installed distribution with an `arena` entry point are shipped in the job's runtime
environment (`py_modules`), so a node needs only Python, Ray and Arena's dependencies (the same image or
requirements). Each distribution goes as its top-level packages plus its .dist-info folder: the packages are
imported from there ahead of anything installed on the node, and the .dist-info carries the entry points through
which plugins are found. An editable install (this repository, `pip install -e`) is first built into a wheel with
`pip wheel --no-deps`, since its files live in source folders (arena.plugins and arena.envs are mapped from
`plugins/` and `envs/`); a regular install is copied from its installed files. Ray's own handling of a .whl in
py_modules runs `pip install` with dependencies on every node, which would fetch Arena's whole dependency tree.
`ARENA_RAY_SHIP=off` ships nothing, for clusters whose nodes have the same wheels installed.

The check: one zero-CPU task per alive node reports its Python, Ray and Arena versions and the plugins it loads;
a difference from the driver, or a plugin that the job needs and a node lacks, is one line naming the node.
"""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from arena.errors import UsageError

SHIP_ENV_VAR = "ARENA_RAY_SHIP"
CHECK_TIMEOUT_S = 120.0  # a node's first task may install the runtime environment: seconds before it is reported


def ships_code(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(SHIP_ENV_VAR, "on").strip().lower()
    if value not in ("on", "off", "1", "0", "true", "false", "yes", "no", ""):
        raise UsageError(f"{SHIP_ENV_VAR} is 'on' (ship Arena and its plugins to the cluster's nodes, the default) "
                         f"or 'off' (the nodes have the same wheels installed), not {value!r}.")
    return value not in ("off", "0", "false", "no")


def code_distributions() -> list[md.Distribution]:
    """Arena's distribution and each installed one that provides an `arena` entry point (a plugin package)."""
    found: dict[str, md.Distribution] = {}
    for dist in md.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name == "arena" or any(ep.group == "arena" for ep in dist.entry_points):
            found.setdefault(name, dist)
    return [found[n] for n in sorted(found)]


def _editable_source(dist: md.Distribution) -> Path | None:
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    info = json.loads(text)
    if not info.get("dir_info", {}).get("editable"):
        return None
    url = info.get("url", "")
    return Path(url.removeprefix("file://")) if url.startswith("file://") else None


def _unpack(dist: md.Distribution, into: Path) -> None:
    source = _editable_source(dist)
    if source is not None:
        with tempfile.TemporaryDirectory(prefix="arena-wheel-") as out:
            built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                                    "-w", out, str(source)], capture_output=True, text=True)
            wheels = list(Path(out).glob("*.whl"))
            if built.returncode != 0 or not wheels:
                last = (built.stderr.strip().splitlines() or ["no wheel was written"])[-1]
                raise UsageError(f"Cannot build a wheel of {dist.metadata['Name']} from {source} to ship to the Ray "
                                 f"cluster: {last}. Install the same wheels on every node and set {SHIP_ENV_VAR}=off.")
            with zipfile.ZipFile(wheels[0]) as wheel:
                wheel.extractall(into)
        return
    root = Path(str(dist.locate_file("")))
    for f in dist.files or []:
        if f.parts and f.parts[0] != ".." and "__pycache__" not in f.parts:
            target = into / f
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / f, target)


def stage_code(into: Path) -> list[str]:
    """Unpack the code distributions under `into`; returns the paths for the runtime environment's py_modules."""
    modules: list[str] = []
    for i, dist in enumerate(code_distributions()):
        folder = into / str(i)
        folder.mkdir(parents=True)
        _unpack(dist, folder)
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() or entry.suffix == ".py":
                modules.append(str(entry))
    return modules


def settings_env() -> dict[str, str]:
    """The driver's Arena settings that workers must share: the snapshot folder (absolute, since workers on a
    cluster do not start in the driver's folder) and the blocked plugins, where set."""
    from arena.settings import BLOCK_ENV_VAR, SNAPSHOTS_ENV_VAR, Settings

    settings = Settings.from_environment()
    env = {SNAPSHOTS_ENV_VAR: str(settings.snapshots.resolve())}
    if settings.blocked:
        env[BLOCK_ENV_VAR] = ",".join(settings.blocked)
    return env


def needs_of(registry: Any, env: str, policies: Any = ()) -> dict[str, str]:
    """The plugins a job on `env` with these policy specs needs: plugin -> what needs it, for check_nodes. A spec
    that does not resolve here is left out (the job itself reports it)."""
    from arena.errors import ArenaError
    from arena.ids import is_remote, parse_spec

    needs: dict[str, str] = {}
    for kind, spec in [("env", env), *(("policy", p) for p in policies if not is_remote(p))]:
        try:
            plugin = registry.resolve(kind, parse_spec(spec)[0]).plugin
        except ArenaError:
            continue
        needs.setdefault(plugin, f"{'game' if kind == 'env' else 'policy'} {spec}")
    return needs


def describe_here() -> dict[str, Any]:
    """This process's versions and loaded plugins (what each node reports)."""
    import ray

    import arena
    from arena.plugin_manager import get_plugin_manager

    try:
        plugins = sorted(name for name, plugin in get_plugin_manager().list_name_plugin() if plugin is not None)
        error = None
    except Exception as e:  # a plugin that fails to load there: reported, not raised
        plugins, error = [], f"{type(e).__name__}: {e}"
    return {"python": platform.python_version(), "ray": ray.__version__, "arena": arena.__version__,
            "plugins": plugins, "error": error, "where": ray.util.get_node_ip_address()}


def problems(driver: Mapping[str, Any], nodes: Mapping[str, Mapping[str, Any]],
             needs: Mapping[str, str]) -> list[str]:
    """What is wrong with the nodes' reports against the driver's: a line each. `needs`: plugin -> what needs it."""
    lines = []
    for node, report in nodes.items():
        where = f"Ray node {report.get('where') or node}"
        if report.get("unreachable"):
            lines.append(f"{where} did not run Arena's check: {report['unreachable']}.")
            continue
        for key, name in (("python", "Python"), ("ray", "Ray"), ("arena", "Arena")):
            mine, theirs = driver[key], report[key]
            if key == "python":
                mine, theirs = ".".join(mine.split(".")[:2]), ".".join(theirs.split(".")[:2])
            if mine != theirs:
                lines.append(f"{where} runs {name} {report[key]}, this machine {driver[key]}: every node needs the "
                             f"same {name}" + (" (set ARENA_RAY_SHIP=on to ship this machine's)." if key == "arena"
                                               else "."))
        if report.get("error"):
            lines.append(f"{where} cannot load Arena's plugins: {report['error']}.")
            continue
        for plugin in sorted(set(needs) - set(report["plugins"])):
            lines.append(f"{where} lacks the Arena plugin {plugin!r}, which {needs[plugin]} needs: install it there "
                         f"(or unblock it), or let Arena ship it ({SHIP_ENV_VAR}=on).")
    return lines


_checked: dict[str, dict[str, Any]] = {}  # node id -> report, for this driver's connection


def check_nodes(needs: Mapping[str, str] | None = None) -> None:
    """Ask every alive node of the connected cluster for its report (once per node) and raise UsageError with the
    first problem found: a version unlike this machine's, or a plugin in `needs` (plugin -> what needs it) missing."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    report = ray.remote(num_cpus=0, max_retries=0)(describe_here)
    alive = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    failed: dict[str, dict[str, Any]] = {}
    refs = {node: report.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
            for node in alive if node not in _checked}
    if refs:
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=CHECK_TIMEOUT_S)
        for node, ref in refs.items():
            if ref not in ready:
                failed[node] = {"unreachable": f"no answer within {CHECK_TIMEOUT_S:.0f} s"}
                ray.cancel(ref, force=True)
                continue
            try:
                _checked[node] = ray.get(ref)
            except Exception as e:  # e.g. a node whose Python cannot load this machine's code: asked again next time
                cause = getattr(e, "cause", None) or e
                failed[node] = {"unreachable": f"{type(cause).__name__}: {str(cause).splitlines()[0][:200]}"}
    reports = {n: failed.get(n) or _checked[n] for n in alive if n in failed or n in _checked}
    lines = problems(describe_here(), reports, needs or {})
    if lines:
        more = len(lines) - 1
        raise UsageError(lines[0] if not more else
                         f"{lines[0].rstrip('.')} ({more} more problem{'s' if more > 1 else ''}).")


def forget_nodes() -> None:
    """Forget the nodes checked (on disconnect: another cluster may reuse their ids' meaning)."""
    _checked.clear()
