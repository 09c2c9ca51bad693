"""Leagues: config validation, the scheduler on real RLlib with tiny budgets, resume after kill -9, Ctrl-C, status."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli import build_cli
from arena.config import LeagueConfigError, load
from arena.registry import Registry

LEAGUES = sorted((Path(__file__).parent.parent / "leagues").glob("*.toml"))
TINY_HP = {"train_batch_size_per_learner": 128, "minibatch_size": 64, "num_epochs": 1}
ARENA = [sys.executable, "-c", "from arena.cli import main; main()"]


C4_LEAGUE = 'name = "x"\nenv = "openspiel/connect_four"\n[[learners]]\nname = "a"\n'


def arena(*args: str):
    return CliRunner().invoke(build_cli(Registry()), list(args), obj=Registry())


def test_the_shipped_leagues_are_there_and_validate():
    names = {p.stem for p in LEAGUES}
    assert {"connect_four", "rps", "kuhn_poker", "alphastar_markov_soccer"} <= names
    leagues = [load(p) for p in LEAGUES]
    assert any(Registry().make_game(lg.env).info.num_seats >= 3 for lg in leagues)  # a free-for-all league
    roles = {x.role for lg in leagues for x in lg.learners}
    assert roles == {"main", "main_exploiter", "league_exploiter"}
    result = arena("league", "validate", *map(str, LEAGUES))
    assert result.exit_code == 0 and result.output.count(": ok: ") == len(LEAGUES)


def test_every_problem_in_a_league_file_is_one_line_with_its_key(tmp_path):
    text = (LEAGUES[0].parent / "connect_four.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('policy = "random"', 'policy = "randon"').replace('algo = "ppo"', 'algo = "ppo2"')
                   .replace("weighting =", "weightin =").replace("[stop]", "[stop]\nround = 3"))
    result = arena("league", "validate", str(bad))
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith(f"{bad}: ") for line in lines)
    assert any("fixed[0].policy" in x and "'random'" in x for x in lines)
    assert any("learners[0].algo" in x and "'ppo'" in x for x in lines)
    assert any("matchmaking.main.weightin" in x and "did you mean 'weighting'" in x for x in lines)
    assert any("stop.round" in x and "did you mean 'rounds'" in x for x in lines)


@pytest.mark.parametrize("text,fragment", [
    ('name = "x"\nenv = [', "not valid TOML"),
    ('env = "openspiel/connect_four"\n[[learners]]\nname = "a"\n[stop]\nrounds = 1', "name: is required"),
    ('name = "x"\nenv = "openspiel/connect_four"\n[[learners]]\nname = "a"\nrole = "mian"\n[stop]\nrounds = 1',
     "did you mean 'main'"),
    ('name = "x"\nenv = "openspiel/connect_four"\n[[learners]]\nname = "a"', "stop: needs at least one"),
    ('name = "x"\nenv = "openspiel/connect_four"\n[[learners]]\nname = "a"\nhyperparameters = { lr_rate = 1 }\n'
     '[stop]\nrounds = 1', "no hyperparameter lr_rate"),
    ('name = "x"\nenv = "openspiel/connect_four"\n[[learners]]\nname = "a"\n[snapshots]\nwin_rate = 0.5\n'
     'against = ["heuristic"]\n[stop]\nrounds = 1', "snapshots.against[0]"),
    (f'{C4_LEAGUE}init = "snapshot/nowhere"\n[stop]\nrounds = 1', "learners[0].init: Unknown snapshot 'nowhere'"),
    (f'{C4_LEAGUE}[learners.pretrain]\nplayers = ["random", "mcst"]\ngames = 2\n[stop]\nrounds = 1',
     "learners[0].pretrain.players"),
    (f'{C4_LEAGUE}[learners.pretrain]\nplayers = ["random", "mcts"]\ngames = 2\nimitate = ["alphabeta"]\n'
     '[stop]\nrounds = 1', "learners[0].pretrain.imitate"),
    (f'{C4_LEAGUE}[learners.pretrain]\nplayers = ["random", "mcts"]\ndata = "d"\n[stop]\nrounds = 1',
     "needs either data"),
    (f'{C4_LEAGUE}[learners.pretrain]\ndata = "missing"\n[stop]\nrounds = 1', "learners[0].pretrain.data"),
    (f'{C4_LEAGUE}[learners.pretrain]\nplayers = ["random", "mcts"]\ngames = 0\nopenings = "random:plies=99"\n'
     '[stop]\nrounds = 1', "learners[0].pretrain.games"),
])
def test_bad_league_files_are_refused_before_ray(tmp_path, text, fragment, monkeypatch):
    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path / "snapshots"))
    path = tmp_path / "league.toml"
    path.write_text(text)
    with pytest.raises(LeagueConfigError) as e:
        load(path)
    assert fragment in str(e.value) and all(line.startswith(str(path)) for line in e.value.problems)
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()  # nothing started Ray


def tiny(path: Path, **changes):
    """A shipped league cut to a tiny budget: 1 round of 1 iteration, few evaluation games, small batches."""
    league = load(path)
    learners = tuple(dataclasses.replace(x, hidden=(16,), pretrain=None, hyperparameters={
        **TINY_HP, **{k: v for k, v in x.hyperparameters.items() if k == "lookahead"}})
                     for x in league.learners)  # test_a_pretrained_learner_* covers pretraining
    return dataclasses.replace(league, learners=learners, iterations_per_round=1, eval_games=2, stop_rounds=1,
                               stop_minutes=None, stop_win_rate=None, **changes)


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("path", LEAGUES, ids=[p.stem for p in LEAGUES])
def test_each_shipped_league_runs_a_round_on_real_rllib(path, tmp_path, monkeypatch, ray_local):
    from arena.store import leagues as state
    from arena.services.recording import open_store
    from arena.services.scheduler import Scheduler

    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path / "snapshots"))
    league = tiny(path, snapshot_every=1)
    lines: list[str] = []
    with open_store(tmp_path / "a.db") as store:
        reason = Scheduler(league, store, Registry(), run_dir=tmp_path / "runs", echo=lines.append).run()
        assert reason == "1 rounds"
        [round1] = state.rounds(store, league.name)
        assert round1["phase"] == "done" and set(round1["tables"]) == {x.name for x in league.learners}
        pool = state.pool(store, league.name)
        assert len(pool.snapshots()) == len(league.learners)  # every=1: each learner's copy joined the pool
        seats = len(Registry().make_game(league.env).info.sides)  # stored: one participant per seat, or per team
        counts = dict(store.db.execute(
            "SELECT p.player, count(*) FROM participants p JOIN matches m ON m.seq = p.match_seq "
            "WHERE m.event = ? GROUP BY p.player", [league.name]).fetchall())
        for x in league.learners:
            assert counts[pool.get(x.name).policy] >= 2  # each frozen copy played rated evaluation games
        sizes = {n for (n,) in store.db.execute("SELECT count(*) FROM participants p JOIN matches m "
                                                "ON m.seq = p.match_seq WHERE m.event = ? GROUP BY m.seq",
                                                [league.name])}
        assert sizes == {seats}
    assert any(line.startswith("round 1") for line in lines) and any(line.strip().startswith("top") for line in lines)


def test_matchmaking_tables_follow_the_pool_and_resume_continues_rounds(tmp_path, monkeypatch, ray_local):
    from arena.store import leagues as state
    from arena.services.recording import open_store
    from arena.services.scheduler import Scheduler

    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path / "snapshots"))
    league = tiny(LEAGUES[0].parent / "connect_four.toml", snapshot_every=1)
    with open_store(tmp_path / "a.db") as store:
        Scheduler(league, store, Registry(), run_dir=tmp_path / "runs", echo=lambda _: None).run()
        with pytest.raises(Exception, match="--resume"):
            Scheduler(league, store, Registry(), run_dir=tmp_path / "runs", echo=lambda _: None).run()
        more = dataclasses.replace(league, stop_rounds=2)
        Scheduler(more, store, Registry(), run_dir=tmp_path / "runs", resume=True, echo=lambda _: None).run()
        first, second = state.rounds(store, league.name)
        assert all(k.startswith("snapshot/") is False for k in first["tables"]["main"] if k != "self")
        assert any(k == "snapshot/connect_four-main-r001" for k in second["tables"]["main"])  # round 1's snapshot
        assert second["learners"]["main"]["iteration"] == 2  # round 2 continued from round 1's checkpoint
        assert state.pool(store, league.name).get("main").parent == "snapshot/connect_four-main-r001"


PRETRAIN_TOML = """
name = "pre"
env = "openspiel/connect_four"
[[learners]]
name = "main"
hidden = [16]
hyperparameters = { train_batch_size_per_learner = 128, minibatch_size = 64, num_epochs = 1, lookahead = true }
[learners.pretrain]
players = ["random", "connect_four_heuristic"]
games = 4
imitate = ["connect_four_heuristic"]
teacher = "mcts:simulations=10"
epochs = 1
[[fixed]]
policy = "random"
[evaluation]
games = 2
[stop]
rounds = 1
"""


def test_a_pretrained_learner_starts_from_its_clone_and_a_resume_does_not_clone_again(tmp_path, monkeypatch,
                                                                                      ray_local):
    import json

    from arena.services.recording import open_store
    from arena.services.scheduler import Scheduler
    from arena.store import leagues as state

    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path / "snapshots"))
    path = tmp_path / "pre.toml"
    path.write_text(PRETRAIN_TOML)
    league = load(path)
    lines: list[str] = []
    with open_store(tmp_path / "a.db") as store:
        Scheduler(league, store, Registry(), run_dir=tmp_path / "runs", echo=lines.append).run()
        clone = tmp_path / "snapshots" / "pre-main-pretrain"
        meta = json.loads((clone / "meta.json").read_text())
        assert meta["hidden"] == [16] and meta["value"] and (clone / "value.pt").is_file()
        assert meta["features"] == 3  # the learner's lookahead: the export had it, the clone and the learner too
        data = json.loads((tmp_path / "runs" / "pre" / "pretrain" / "main" / "dataset.json").read_text())
        assert data["teacher"] == "mcts:simulations=10" and data["features"] == 3
        assert any(line.startswith("Pretrained main by behaviour cloning") for line in lines)
        assert "Learner main starts from snapshot/pre-main-pretrain." in lines
        played = store.db.execute("SELECT count(*) FROM matches WHERE event = 'dataset'").fetchone()[0]
        assert played == 4  # the pretraining games are stored (and rated) like any other
        assert state.get(store, "pre")["elapsed_s"] > 0
        lines.clear()
        more = dataclasses.replace(league, stop_rounds=2)
        Scheduler(more, store, Registry(), run_dir=tmp_path / "runs", resume=True, echo=lines.append).run()
        assert not any("Pretrain" in line or "starts from" in line for line in lines)  # from round 1's checkpoint
        assert store.db.execute("SELECT count(*) FROM matches WHERE event = 'dataset'").fetchone()[0] == played


LEAGUE_TOML = """
name = "kill_test"
env = "openspiel/tic_tac_toe"
seed = 3
[[learners]]
name = "main"
hidden = [16]
hyperparameters = { train_batch_size_per_learner = 128, minibatch_size = 64, num_epochs = 1 }
[[fixed]]
policy = "random"
[[fixed]]
policy = "alphabeta"
params = { depth = 2 }
[evaluation]
games = 100
[snapshots]
every = 1
[stop]
rounds = 4
"""


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _count(db: Path, sql: str) -> int:
    import sqlite3

    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute(sql).fetchone()[0] or 0)
    except sqlite3.OperationalError:
        return 0


def test_kill_9_mid_league_then_resume_loses_and_double_counts_nothing(tmp_path):
    from arena.services.recording import open_store

    (tmp_path / "kill.toml").write_text(LEAGUE_TOML)
    env = {**os.environ, "ARENA_SNAPSHOTS": str(tmp_path / "snapshots"), "ARENA_DB": str(tmp_path / "a.db")}
    proc = subprocess.Popen([*ARENA, "league", "run", "kill.toml"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:  # kill as soon as round 2's training is committed, most likely during its evaluation games
        _wait_for(lambda: _count(tmp_path / "a.db", "SELECT count(*) FROM league_rounds WHERE phase = 'done'"), 240)
        during = arena("leaderboard", "--league", "kill_test", "--db", str(tmp_path / "a.db"), "--json")
        assert during.exit_code == 0 and json.loads(during.output)  # readable from another process meanwhile
        _wait_for(lambda: _count(tmp_path / "a.db", "SELECT count(*) FROM league_rounds WHERE round = 2") == 1, 240)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    stored = _count(tmp_path / "a.db", "SELECT count(*) FROM matches")
    done = subprocess.run([*ARENA, "league", "run", "kill.toml", "--resume"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"Resuming league kill_test after round [123] ", done.stderr)
    with open_store(tmp_path / "a.db") as store:
        rounds = store.db.execute("SELECT round, phase FROM league_rounds ORDER BY round").fetchall()
        assert rounds == [(r, "done") for r in range(1, 5)]
        total = store.db.execute("SELECT count(*) FROM matches WHERE status = 'ok'").fetchone()[0]
        # round r: the copy plays random, alphabeta and the r-1 snapshots already in the pool, 100 games each;
        # the two fixed players meet once (100 games) and each meets the top 4 pool snapshots, 10 games a round
        expected = sum(100 * (2 + min(r - 1, 3)) + 2 * 10 * min(r - 1, 4) for r in range(1, 5)) + 100
        assert total == expected and total > stored
        assert store.rebuild(dry_run=True) == {}  # the incremental ratings equal a rebuild from the stored matches

def test_ctrl_c_stops_after_the_round_and_status_tells_where_it_stands(tmp_path):
    (tmp_path / "kill.toml").write_text(LEAGUE_TOML.replace("rounds = 4", "rounds = 50"))
    env = {**os.environ, "ARENA_SNAPSHOTS": str(tmp_path / "snapshots"), "ARENA_DB": str(tmp_path / "a.db")}
    proc = subprocess.Popen([*ARENA, "league", "run", "kill.toml"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _count(tmp_path / "a.db", "SELECT count(*) FROM league_rounds WHERE phase = 'done'") >= 1,
                  240)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Stopping after this round" in err and "--resume" in err and "Traceback" not in err
    status = arena("league", "status", "kill_test", "--db", str(tmp_path / "a.db"), "--json")
    doc = json.loads(status.output)
    assert doc["status"] == "stopped" and doc["rounds"] >= 1 and not doc["in_progress"]
    assert {m["id"] for m in doc["members"]} >= {"main", "random", "alphabeta:depth=2"}
    missing = arena("league", "status", "kill_tset", "--db", str(tmp_path / "a.db"))
    assert missing.exit_code == 2 and "kill_test" in missing.output
