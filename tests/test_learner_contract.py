"""The learner contract, driven by a third-party algorithm: a numpy policy-gradient learner (no Ray) trained by
`arena train` and by the league scheduler. In-process runs test the scheduler's rules fast; one test installs the
plugin through a real entry point and runs the CLI."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from arena.config import load
from arena.learners import check_hyperparameters, create_learner
from arena.plugin_manager import get_plugin_manager
from arena.protocols import Learner
from arena.registry import Registry
from arena.services.scheduler import Scheduler
from arena.services.recording import open_store
from arena.store import leagues as state, rankings

PLUGIN = Path(__file__).parent / "plugins" / "arena_numpy_learner.py"

LEAGUE = """
name = "np"
env = "pettingzoo/rps_v2"
seed = 3

[[learners]]
name = "main"
algo = "numpy-pg"
hyperparameters = {{ lr = {lr} }}

[[fixed]]
policy = "{fixed}"

[matchmaking.main]
matchmaker = "uniform"

[round]
iterations = 1

[evaluation]
games = 10
snapshots = 1

{extra}
"""


@pytest.fixture
def registry() -> Registry:
    spec = importlib.util.spec_from_file_location("arena_numpy_learner", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pm = get_plugin_manager(entry_points=False)
    pm.register(module, name="numpy_learner")
    return Registry(pm)


@pytest.fixture(autouse=True)
def snapshots(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path / "snapshots"))  # spawned match workers read it too
    return tmp_path / "snapshots"


def run(tmp_path: Path, registry: Registry, extra: str, *, lr: float = 0.5, fixed: str = "constant", **changes):
    path = tmp_path / "np.toml"
    path.write_text(LEAGUE.format(lr=lr, fixed=fixed, extra=extra))
    league = load(path, registry)
    if changes:
        import dataclasses

        league = dataclasses.replace(league, **changes)
    store = open_store(tmp_path / "a.db")
    lines: list[str] = []
    reason = Scheduler(league, store, registry, run_dir=tmp_path / "runs", echo=lines.append).run()
    return reason, store, lines


def test_the_numpy_learner_follows_the_protocol(registry, tmp_path):
    learner = create_learner(registry, "numpy-pg", env="pettingzoo/rps_v2", table={"constant": 1.0},
                             hyperparameters={}, hidden=(), seed=0, resources={})
    assert isinstance(learner, Learner)
    result = learner.train()
    assert result["iteration"] == 1 and result["env_steps"] > 0 and set(result["outcomes"]) == {"constant"}
    learner.save(tmp_path / "ckpt")
    other = create_learner(registry, "numpy-pg", env="pettingzoo/rps_v2", table={"self": 1.0},
                           hyperparameters={}, hidden=(), seed=1, resources={})
    other.load(tmp_path / "ckpt")
    assert (other.iteration, other.env_steps) == (learner.iteration, learner.env_steps)
    assert check_hyperparameters(registry, "numpy-pg", {"lr": 0.1}) is None
    assert "nope" in check_hyperparameters(registry, "numpy-pg", {"nope": 1})


def test_a_league_file_with_an_unknown_hyperparameter_is_refused_in_one_line(registry, tmp_path):
    from arena.config import LeagueConfigError

    path = tmp_path / "np.toml"
    path.write_text(LEAGUE.format(lr=0.5, fixed="constant", extra="[stop]\nrounds = 1").replace("lr = 0.5", "learning_rate = 0.5"))
    with pytest.raises(LeagueConfigError) as e:
        load(path, registry)
    assert any("learners[0].hyperparameters" in p and "learning_rate" in p for p in e.value.problems)


def test_stop_by_win_rate_fires_once_the_learner_beats_the_target(registry, tmp_path):
    reason, store, lines = run(tmp_path, registry,
                               '[stop]\nrounds = 6\nwin_rate = { player = "constant", at_least = 0.9 }')
    with store:
        rounds = state.rounds(store, "np")
    assert reason.startswith("main scored") and "constant" in reason
    last = rounds[-1]["evaluation"]["main"]["constant"]
    assert last >= 0.9 and len(rounds) < 6


def test_snapshots_join_by_win_rate_and_old_ones_retire_past_max_pool(registry, tmp_path):
    # beat-last beats the learner's previous move; a learner that sees its own last move learns to exploit it
    extra = '[snapshots]\nwin_rate = 0.9\nagainst = ["beat-last"]\nmax_pool = 1\n\n[stop]\nrounds = 5'
    reason, store, _ = run(tmp_path, registry, extra, fixed="beat-last")
    with store:
        rounds = state.rounds(store, "np")
        everyone = state.pool(store, "np", active_only=False).snapshots()
        active = state.pool(store, "np").snapshots()
    assert reason == "5 rounds"
    scored = [r["evaluation"]["main"]["beat-last"] for r in rounds]
    joined = [bool(r["joined"]) for r in rounds]
    assert joined == [s >= 0.9 for s in scored]  # a copy joins exactly in the rounds it scored 0.9
    assert not joined[0] and sum(joined) >= 2  # the first copy loses to beat-last; later ones exploit it
    assert len(everyone) == sum(joined) and len(active) == 1  # older snapshots are out of matchmaking...
    assert [m.id for m in active] == [m.id for m in everyone][-1:]  # ...and the newest stays


def test_stop_by_rating_uses_the_conservative_rating(registry, tmp_path):
    reason, store, _ = run(tmp_path, registry, "[stop]\nrounds = 8\nrating = 8.0")
    with store:
        from arena.ratings import conservative

        pool = state.pool(store, "np")
        skills = rankings.skills(store, "pettingzoo/rps_v2")
    assert reason.startswith("main rated")
    assert conservative(skills[pool.get("main").policy]) >= 8.0


def test_stop_by_minutes_ends_the_league_after_the_round_that_used_up_the_time(registry, tmp_path):
    reason, store, _ = run(tmp_path, registry, "[stop]\nminutes = 0.01\nrounds = 20")
    with store:
        done = state.rounds_done(store, "np")
        elapsed = state.get(store, "np")["elapsed_s"]
    assert reason.endswith("minutes") and elapsed >= 0.6 and 1 <= done < 20


def test_the_evaluation_schedule_connects_copies_fixed_players_and_the_top_of_the_pool(registry, tmp_path):
    extra = "[snapshots]\nevery = 1\n\n[stop]\nrounds = 3"
    path = tmp_path / "np.toml"
    path.write_text(LEAGUE.format(lr=0.5, fixed="constant", extra=extra).replace(
        "[evaluation]\ngames = 10\nsnapshots = 1", "[evaluation]\ngames = 6\nsnapshots = 0\ntop = 1\ntop_games = 4")
        .replace('[[fixed]]\npolicy = "constant"', '[[fixed]]\npolicy = "constant"\n\n[[fixed]]\npolicy = "cycle"'))
    league = load(path, registry)
    assert (league.eval_top, league.eval_top_games, league.eval_snapshots) == (1, 4, 0)
    with open_store(tmp_path / "a.db") as store:
        Scheduler(league, store, registry, run_dir=tmp_path / "runs", echo=lambda _: None).run()
        rounds = state.rounds(store, "np")
    conn = sqlite3.connect(tmp_path / "a.db")
    pairs = conn.execute("SELECT a.player, b.player, count(*) FROM participants a JOIN participants b "
                         "ON a.match_seq = b.match_seq AND a.seat < b.seat GROUP BY 1, 2").fetchall()
    conn.close()
    met: dict[frozenset, int] = {}
    for a, b, n in pairs:
        met[frozenset((a, b))] = met.get(frozenset((a, b)), 0) + n
    for fixed in ("constant", "cycle"):
        with_snapshots = sum(n for players, n in met.items() if fixed in players
                             and any(p.startswith("snapshot/") for p in players))
        # each round's copy plays it 6 games; from round 2 on the top pool snapshot also meets it, 4 games a round
        assert with_snapshots == 3 * 6 + 2 * 4
    assert met[frozenset(("constant", "cycle"))] == 6  # the fixed players met each other once, not every round
    for r in rounds:  # each copy met the fixed players and at most the one top player besides
        assert {"constant", "cycle"} <= set(r["evaluation"]["main"]) and len(r["evaluation"]["main"]) <= 3


def test_evaluation_on_two_workers_stores_the_same_games_as_on_one(registry, tmp_path):
    def stored(folder: Path) -> list[tuple]:
        conn = sqlite3.connect(folder / "a.db")
        rows = conn.execute("SELECT m.id, m.status, group_concat(p.player || '=' || p.score, ' ') FROM matches m "
                            "JOIN participants p ON p.match_seq = m.seq GROUP BY m.seq ORDER BY m.seq").fetchall()
        conn.close()
        return rows

    for workers in (1, 2):
        (tmp_path / f"w{workers}").mkdir()
        _, store, _ = run(tmp_path / f"w{workers}", registry, "[stop]\nrounds = 2", eval_workers=workers)
        store.close()
    one, two = stored(tmp_path / "w1"), stored(tmp_path / "w2")
    assert len(one) == 2 * 10  # two rounds of 10 games against the one fixed player
    assert one == two


@pytest.mark.slow
def test_an_installed_algorithm_plugin_trains_with_arena_train_and_in_a_league(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_thirdparty_plugin import install_plugin, json_of, run_arena

    site = install_plugin(tmp_path, "numpylearner", PLUGIN.read_text())
    algorithms = {r["id"]: r for r in json_of(run_arena(["algorithms", "--json"], tmp_path, site))}
    assert algorithms["numpy-pg"]["plugin"] == "numpylearner"

    doc = json_of(run_arena(["train", "pettingzoo/rps_v2", "--algo", "numpy-pg", "--opponents", "constant",
                             "--stop-iterations", "3", "--eval-games", "10", "--workers", "2", "--name", "np",
                             "--db", "t.db", "--json"], tmp_path, site))
    assert doc["iterations"] == 3 and doc["stop_reason"] == "iteration limit"
    assert doc["final"] == "snapshot/np-it3" and (tmp_path / "snapshots" / "np-it3" / "meta.json").is_file()
    assert doc["scores"]["constant"] >= 0.9  # it learnt to play paper against rock, measured in 10 real games
    conn = sqlite3.connect(tmp_path / "t.db")
    assert conn.execute("SELECT count(*) FROM matches").fetchone()[0] == 10
    assert conn.execute("SELECT parent FROM players WHERE id = 'snapshot/np-it3'").fetchone() == (None,)

    (tmp_path / "np.toml").write_text(LEAGUE.format(lr=0.5, fixed="constant", extra="[stop]\nrounds = 2"))
    proc = run_arena(["league", "run", "np.toml", "--db", "l.db"], tmp_path, site)
    assert proc.returncode == 0, proc.stderr
    assert "Finished (2 rounds)" in proc.stderr and "Traceback" not in proc.stderr
    status = json_of(run_arena(["league", "status", "np", "--db", "l.db", "--json"], tmp_path, site))
    assert status["rounds"] == 2 and status["matches"] == 20


@pytest.mark.slow
def test_the_minimal_algorithm_in_the_plugin_docs_installs_and_trains(tmp_path):
    """docs/plugins.md's example, copied from the page as it is, installed as a package and trained by the CLI."""
    import re
    import subprocess
    import textwrap

    sys.path.insert(0, str(Path(__file__).parent))
    from test_thirdparty_plugin import json_of, run_arena

    page = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    blocks = dict(re.findall(r"```python\n# (mylearner/\w+\.py)\n(.*?)```", page, re.S))
    assert set(blocks) == {"mylearner/learner.py", "mylearner/plugin.py"}
    entry = re.search(r"\[project\.entry-points\.arena\]\n(mylearner = .*?)\n", page).group(1)
    pkg = tmp_path / "pkg"
    (pkg / "mylearner").mkdir(parents=True)
    (pkg / "mylearner" / "__init__.py").write_text("")
    for name, code in blocks.items():
        (pkg / name).write_text(code)
    (pkg / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "mylearner"
        version = "0.1.0"
        [project.entry-points.arena]
        """) + entry + "\n[tool.setuptools]\npackages = [\"mylearner\"]\n")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                           "--target", str(site), str(pkg)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json_of(run_arena(["train", "openspiel/tic_tac_toe", "--algo", "myalgo", "--opponents", "random",
                             "--hp", "games=6", "--stop-iterations", "2", "--eval-games", "4", "--name", "doc",
                             "--json", "--db", "d.db"], tmp_path, site))
    assert doc["iterations"] == 2 and doc["final"] == "snapshot/doc-it2" and set(doc["scores"]) == {"random"}
    played = json_of(run_arena(["match", "openspiel/tic_tac_toe", "snapshot/doc-it2", "random", "-n", "4", "--json"],
                               tmp_path, site))
    assert played["games_played"] == 4 and not played["errors"] and not played["forfeits"]


def test_resuming_a_finished_league_builds_no_learner_and_leaves_it_finished(registry, tmp_path, monkeypatch):
    reason, store, _ = run(tmp_path, registry, "[stop]\nrounds = 2")
    assert reason == "2 rounds"
    with store:  # as a run killed on --resume before this fix left it: marked running again
        store.db.execute("UPDATE leagues SET status = 'running', stop_reason = NULL WHERE name = 'np'")
    import arena.services.scheduler as scheduler

    def tripwire(*args, **kwargs):
        raise AssertionError("a learner was built for a league that has finished")

    league = load(tmp_path / "np.toml", registry)
    lines: list[str] = []
    with monkeypatch.context() as patched, open_store(tmp_path / "a.db") as store:
        patched.setattr(scheduler, "create_learner", tripwire)
        again = Scheduler(league, store, registry, run_dir=tmp_path / "runs", resume=True, echo=lines.append).run()
        row = state.get(store, "np")
        assert again == "2 rounds" and (row["status"], row["stop_reason"]) == ("finished", "2 rounds")
        assert state.rounds_done(store, "np") == 2
    assert any("already finished (2 rounds)" in line for line in lines)
    longer = dataclasses.replace(league, stop_rounds=3)  # a raised stop rule continues it
    with open_store(tmp_path / "a.db") as store:
        assert Scheduler(longer, store, registry, run_dir=tmp_path / "runs", resume=True,
                         echo=lambda _: None).run() == "3 rounds"
        assert state.rounds_done(store, "np") == 3


def test_a_league_whose_run_is_alive_is_not_run_twice(registry, tmp_path):
    from arena import processes
    from arena.store.leagues import LeagueStateError

    reason, store, _ = run(tmp_path, registry, "[stop]\nrounds = 1")
    with store:
        assert state.get(store, "np")["run"] is None  # an ended run leaves no record
        state.set_run(store, "np", processes.record())  # as if this (live) process were running it
        league = dataclasses.replace(load(tmp_path / "np.toml", registry), stop_rounds=2)
        with pytest.raises(LeagueStateError, match=f"already running in process {os.getpid()}"):
            Scheduler(league, store, registry, run_dir=tmp_path / "runs", resume=True, echo=print).run()
        assert state.rounds_done(store, "np") == 1 and state.get(store, "np")["status"] == "finished"
