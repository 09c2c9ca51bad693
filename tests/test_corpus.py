"""The bad-input corpus (tests/corpus/): every league file and command line in it exits with its documented code and
one line naming what is wrong, with no traceback, no Ray started and no database changed.

Every case runs in this process through click's CliRunner (fast); the cases marked `subprocess` in cli.toml, and a
sample of league files, also run as real `arena` processes (slow: tests/conftest.py lists that test). A league file
runs as `arena league run FILE --db STORE`, the command that would start Ray if the file were accepted.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"
ARENA = str(Path(sys.executable).with_name("arena"))
ENV = "openspiel/tic_tac_toe-v0"
USAGE = re.compile(r"^(Usage: .*|Try '.*' for help\.)$")  # click's lines around its one "Error:" line
# League files that also run as real processes (the others run in this process only)
SUBPROCESS_LEAGUES = {"payoff-decay-nan", "evaluation-games-10-to-the-12", "round-iterations-10-to-the-21",
                      "hp-lr-negative", "not-toml"}


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    exit: int
    keys: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    subprocess: bool = False


def league_case(path: Path) -> Case:
    """A league file's header comments say what it must give: `# exit: N`, `# key: ...` (one or more), `# why: ...`."""
    header = [line.decode() for line in path.read_bytes().split(b"\n") if line.startswith(b"# ")]
    fields: dict[str, list[str]] = {}
    for line in header:
        name, _, value = line[2:].partition(": ")
        fields.setdefault(name, []).append(value.strip())
    assert fields.get("exit") and fields.get("key") and fields.get("why"), f"{path.name}: header lacks exit/key/why"
    return Case(f"leagues/{path.stem}", ("league", "run", str(path), "--db", "{db}"), int(fields["exit"][0]),
                tuple(fields["key"]), subprocess=path.stem in SUBPROCESS_LEAGUES)


def cli_cases() -> list[Case]:
    cases = []
    for i, raw in enumerate(tomllib.loads((CORPUS / "cli.toml").read_text())["case"]):
        assert set(raw) <= {"args", "exit", "key", "why", "env", "subprocess"} and raw.get("why"), raw
        cases.append(Case(f"cli/{i:02d}-{'-'.join(raw['args'][:2])}", tuple(raw["args"]), raw["exit"],
                          tuple(raw["key"]), dict(raw.get("env", {})), raw.get("subprocess", False)))
    return cases


CASES = [league_case(p) for p in sorted((CORPUS / "leagues").glob("*.toml"))] + cli_cases()


def test_the_corpus_is_as_large_as_promised():
    leagues = [c for c in CASES if c.id.startswith("leagues/")]
    assert len(leagues) >= 80 and len(CASES) - len(leagues) >= 50
    assert sum(c.subprocess for c in CASES) >= 10
    assert set(SUBPROCESS_LEAGUES) <= {c.id.partition("/")[2] for c in leagues}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The folder each case starts from: stores good and bad, and a snapshots folder with a broken snapshot."""
    from arena.services.recording import open_store
    from arena.types import MatchResult, ranks_from_returns

    root = tmp_path_factory.mktemp("corpus-template")
    with open_store(root / "arena.db") as store:
        for seed, returns in enumerate([(1.0, -1.0), (0.0, 0.0), (-1.0, 1.0)]):
            store.record(MatchResult(ENV, seed, ("random", "alphabeta"), returns, ranks_from_returns(returns), 5))
    shutil.copy(root / "arena.db", root / "newer.db")
    with contextlib.closing(sqlite3.connect(root / "newer.db")) as conn:
        conn.execute(f"PRAGMA user_version = {conn.execute('PRAGMA user_version').fetchone()[0] + 1}")
        conn.commit()
    (root / "empty.db").write_bytes(b"")
    (root / "text.db").write_text("not an SQLite database\n")
    (root / "snapshots" / "bad").mkdir(parents=True)
    (root / "snapshots" / "bad" / "meta.json").write_text("{not json")
    return root


@pytest.fixture
def world(template, tmp_path, monkeypatch) -> dict[str, Any]:
    """A fresh copy of the template as the working directory, with Ray's temp dir pointed at an empty folder."""
    folder = tmp_path / "world"
    shutil.copytree(template, folder)
    ray_tmp = tmp_path / "ray-tmp"
    ray_tmp.mkdir()
    for var in ("ARENA_DB", "ARENA_SNAPSHOTS", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(ray_tmp))  # where ray.init would create its session folder
    monkeypatch.chdir(folder)
    places = {"db": folder / "arena.db", "newer_db": folder / "newer.db", "empty_db": folder / "empty.db",
              "text_db": folder / "text.db", "corpus": CORPUS, "snapshots": folder / "snapshots"}
    return {"folder": folder, "ray_tmp": ray_tmp, "places": {k: str(v) for k, v in places.items()}}


def fill(text: str, places: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: places[m[1]], text)


def files(folder: Path) -> dict[str, str]:
    """Every file's hash. SQLite's -shm index and an empty -wal, which a reader of a WAL store may leave beside it,
    hold no data and are left out; a -wal with frames in it holds changes, and counts."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith("-shm")
            and not (p.name.endswith("-wal") and p.stat().st_size == 0)}


def check(case: Case, code: int, stderr: str, world: dict[str, Any], before: dict[str, str]) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not USAGE.match(line)]
    assert len(lines) == 1, f"{case.id}: wanted one message line on stderr, got {lines}"
    missing = [key for key in case.keys if key not in lines[0]]
    assert not missing, f"{case.id}: the message does not name {missing}: {lines[0]}"
    assert code == case.exit, f"{case.id}: exit {code}, wanted {case.exit}: {lines[0]}"
    assert list(world["ray_tmp"].iterdir()) == [], f"{case.id}: Ray started (its temp folder was written)"
    assert files(world["folder"]) == before, f"{case.id}: a file in the working folder was created or changed"


def tripwire(what: str):
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"bad input reached {what}: a league or training run would have started Ray")

    return fail


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_in_process(case, world, monkeypatch):
    from click.testing import CliRunner

    from arena.cli import build_cli
    from arena.registry import Registry
    from arena.services import scheduler, training
    from arena.settings import Settings

    monkeypatch.setattr(scheduler.Scheduler, "run", tripwire("the league scheduler"))
    monkeypatch.setattr(training, "create_learner", tripwire("creating a learner"))
    for key, value in case.env.items():
        monkeypatch.setenv(key, fill(value, world["places"]))
    before = files(world["folder"])
    reg = Registry(settings=Settings.from_environment())
    result = CliRunner().invoke(build_cli(reg), [fill(a, world["places"]) for a in case.args], obj=reg,
                                prog_name="arena")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        pytest.fail(f"{case.id}: {''.join(traceback.format_exception(result.exception))}")
    check(case, result.exit_code, result.stderr, world, before)
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


SUBPROCESS_CASES = [c for c in CASES if c.subprocess]


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=[c.id for c in SUBPROCESS_CASES])
def test_bad_input_in_a_real_arena_process(case, world):
    env = {**os.environ, **{k: fill(v, world["places"]) for k, v in case.env.items()}}
    before = files(world["folder"])
    out = subprocess.run([ARENA, *(fill(a, world["places"]) for a in case.args)], capture_output=True, text=True,
                         timeout=300, env=env, cwd=world["folder"])
    check(case, out.returncode, out.stderr, world, before)
