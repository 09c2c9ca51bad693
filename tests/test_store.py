"""The SQLite store: one transaction per match and rating update, idempotent match ids, rebuilds, faults."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.ratings import TrueSkillSystem
from arena.services.recording import open_store
from arena.store import Store, StoreError
from arena.types import MatchResult, ranks_from_returns

ARENA = str(Path(sys.executable).with_name("arena"))


def result(players, returns, seed, env="test/game-v0", error=None):
    returns = tuple(float(r) for r in returns)
    return MatchResult(env, seed, tuple(players), returns, ranks_from_returns(returns), len(players), error=error)


def counts(store: Store) -> dict[str, int]:
    return {t: store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("players", "matches", "participants", "ratings", "rating_history", "pairs")}


def snapshot(store: Store) -> tuple[list[tuple], list[tuple]]:
    ratings = store.db.execute("SELECT * FROM ratings ORDER BY env, player").fetchall()
    pairs = store.db.execute("SELECT * FROM pairs ORDER BY env, a, b").fetchall()
    return ratings, pairs


def test_a_match_id_is_stored_once(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        first = store.record(result(["a", "b"], [1, -1], seed=1))
        before = counts(store)
        again = store.record(result(["a", "b"], [1, -1], seed=1))
        assert first.new and not again.new and again.id == first.id
        assert counts(store) == before
        assert store.record(result(["a", "b"], [1, -1], seed=2)).new
        assert counts(store)["matches"] == 2
        store.record(result(["mcts:simulations=50,uct_c=1.5", "b"], [1, -1], seed=3))
        params = store.db.execute("SELECT kind, params FROM players WHERE id LIKE 'mcts%'").fetchone()
        assert params == ("policy", '{"simulations": 50, "uct_c": 1.5}')


def test_match_and_rating_update_share_one_transaction(tmp_path):
    class Exploding(TrueSkillSystem):
        def rate(self, settings, teams, ranks):
            raise RuntimeError("rating failed")

    path = tmp_path / "a.db"
    with open_store(path) as store:
        store.record(result(["a", "b"], [1, -1], seed=1))
        before = counts(store)
    with Store(path, ratings=Exploding()) as store:
        with pytest.raises(RuntimeError):
            store.record(result(["a", "c"], [1, -1], seed=2))
        assert counts(store) == before


def test_ratings_rebuilt_from_stored_matches_equal_the_incremental_ones(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        for i in range(30):
            store.record(result(["a", "b"], [(i % 3) - 1, 1 - (i % 3)], seed=i))
            store.record(result(["b", "c", "d"], [i % 2, 1, (i + 1) % 3], seed=100 + i, env="test/ffa-v0"))
        store.record(result(["a", "b", "c", "d"], [1, 1, -1, -1], seed=500, env="test/teams-v0"), teams=[0, 0, 1, 1])
        store.record(result(["a", "a"], [1, -1], seed=600))  # self-play: stored, not rated
        store.record(result(["a", "b"], [0, 0], seed=700, error="engine crashed"))  # an error: stored, not rated
        incremental = snapshot(store)
        assert store.rebuild(dry_run=True) == {}
        assert store.rebuild() == {}
        assert snapshot(store) == incremental
        statuses = dict(store.db.execute("SELECT status, count(*) FROM matches GROUP BY status").fetchall())
        assert statuses == {"ok": 62, "error": 1}
        a = store.db.execute("SELECT games FROM ratings WHERE env = 'test/game-v0' AND player = 'a'").fetchone()
        assert a == (30,)
        team_rows = store.db.execute("SELECT player, mu FROM ratings WHERE env = 'test/teams-v0'").fetchall()
        mus = dict(team_rows)
        assert mus["a"] > 25 and mus["b"] > 25 and mus["c"] < 25 and mus["d"] < 25


def test_changed_settings_rerate_an_env(tmp_path):
    path = str(tmp_path / "a.db")
    with open_store(path) as store:
        for i in range(10):
            store.record(result(["a", "b"], [1, -1] if i % 2 else [0, 0], seed=i))
        before = snapshot(store)[0]
    out = subprocess.run([ARENA, "ratings", "set", "test/game", "--draw-probability", "0.5", "--db", path],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "draw_probability=0.5" in out.stdout
    with open_store(path) as store:
        assert store.settings("test/game-v0")["draw_probability"] == 0.5
        assert snapshot(store)[0] != before
        assert store.rebuild(dry_run=True) == {}


def test_store_uses_wal_and_a_busy_timeout(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000


def test_foreign_or_broken_databases_give_one_clear_error(tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an Arena store .*customers"):
        open_store(other)
    with pytest.raises(StoreError, match="not an Arena store"):
        open_store(other, readonly=True)
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite\n" * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        open_store(junk)
    with pytest.raises(StoreError, match="No Arena store at"):
        open_store(tmp_path / "missing.db", readonly=True)
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "no" / "such" / "dir.db")
    with open_store(tmp_path / "fine.db") as store:
        store.record(result(["a", "b"], [1, -1], seed=1))
    with open_store(tmp_path / "fine.db", readonly=True) as store:
        with pytest.raises(StoreError, match="read-only"):
            store.record(result(["a", "b"], [1, -1], seed=2))


def test_a_read_only_store_file_is_one_line_and_loses_nothing(tmp_path):
    path = tmp_path / "ro.db"
    with open_store(path) as store:
        store.record(result(["a", "b"], [1, -1], seed=1))
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
        pytest.skip("cannot make a file read-only for root here (chattr +i unavailable)")
    try:
        out = subprocess.run([ARENA, "match", "openspiel/tic_tac_toe", "random", "constant", "-n", "2",
                              "--db", str(path)], capture_output=True, text=True)
        assert out.returncode == 2 and "read-only" in out.stderr and "Traceback" not in out.stderr
    finally:
        subprocess.run(["chattr", "-i", str(path)])
    with open_store(path, readonly=True) as store:
        assert counts(store)["matches"] == 1


def test_four_processes_writing_one_store_lose_no_row(tmp_path):
    path = str(tmp_path / "shared.db")
    procs = [subprocess.Popen([ARENA, "match", "openspiel/tic_tac_toe", "random", "constant", "-n", "150",
                               "-s", str(seed), "--db", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for seed in range(4)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    with open_store(path, readonly=True) as store:
        c = counts(store)
        # random against constant replays some tic-tac-toe games move for move: those are stored, rated once
        rated = store.db.execute("SELECT count(*) FROM matches WHERE replay_of IS NULL").fetchone()[0]
        assert 0 < rated < 600
        assert c["matches"] == 600 and c["participants"] == 1200 and c["rating_history"] == 2 * rated
        assert store.db.execute("SELECT sum(games) FROM ratings").fetchone()[0] == 2 * rated
        assert store.db.execute("SELECT games FROM pairs").fetchone()[0] == rated
    with open_store(path) as store:
        assert store.rebuild(dry_run=True) == {}


def test_kill_9_mid_run_leaves_no_match_without_its_rating_update(tmp_path):
    path = str(tmp_path / "killed.db")
    proc = subprocess.Popen([ARENA, "match", "openspiel/tic_tac_toe", "random", "constant", "-n", "100000",
                             "-s", "1", "--db", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if os.path.exists(path):
                try:
                    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
                        if conn.execute("SELECT count(*) FROM matches").fetchone()[0] >= 300:
                            break
                except sqlite3.OperationalError:
                    pass  # the store is still being created
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with open_store(path) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        c = counts(store)
        assert c["matches"] >= 300
        rated = store.db.execute("SELECT count(*) FROM matches WHERE replay_of IS NULL").fetchone()[0]
        assert c["participants"] == 2 * c["matches"] and c["rating_history"] == 2 * rated  # replays: rated once
        assert store.db.execute("SELECT sum(games) FROM ratings").fetchone()[0] == 2 * rated
        assert store.rebuild(dry_run=True) == {}
        stored = c["matches"]
    # the same command again stores only the games the killed run never finished
    out = subprocess.run([ARENA, "match", "openspiel/tic_tac_toe", "random", "constant", "-n", str(stored + 5),
                          "-s", "1", "--db", path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"Stored 5 new games in {path} ({stored} were already there)" in out.stderr


def test_leaderboard_league_filter_keeps_only_that_leagues_players(tmp_path):
    from arena.store import leaderboard

    with open_store(tmp_path / "a.db") as store:
        for i in range(4):
            store.record(result(["a", "b"], [1, -1], seed=i), event="alpha")
            store.record(result(["c", "d"], [1, -1], seed=i))
        everyone = leaderboard(store)
        alpha = leaderboard(store, league="alpha")
    assert {r["player"] for r in everyone} == {"a", "b", "c", "d"}
    assert [r["player"] for r in alpha] == ["a", "b"] and [r["rank"] for r in alpha] == [1, 2]


def test_recorder_commits_in_batches_by_count_time_and_exit(tmp_path):
    from arena.services.recording import Recorder

    with open_store(tmp_path / "a.db") as store:
        with Recorder(store, max_batch=3, max_delay=3600) as recorder:
            recorder.add(result(["a", "b"], [1, -1], seed=1))
            recorder.add(result(["a", "b"], [1, -1], seed=2))
            assert counts(store)["matches"] == 0
            recorder.add(result(["a", "b"], [1, -1], seed=3))
            assert counts(store)["matches"] == 3 and recorder.new == 3
            recorder.add(result(["a", "b"], [1, -1], seed=1))  # already stored
            recorder.add(result(["a", "b"], [1, -1], seed=4))
        assert counts(store)["matches"] == 4 and (recorder.new, recorder.already) == (4, 1)
        eager = Recorder(store, max_delay=0.0)
        eager.add(result(["a", "b"], [1, -1], seed=5))
        assert counts(store)["matches"] == 5 and not eager.pending


def test_changing_settings_and_rerating_is_one_transaction(tmp_path):
    class FailsOnDraws(TrueSkillSystem):
        def rate(self, settings, teams, ranks):
            if settings["draw_probability"] == 0.5:
                raise RuntimeError("re-rating failed")
            return super().rate(settings, teams, ranks)

    path = tmp_path / "a.db"
    with open_store(path) as store:
        for i in range(4):
            store.record(result(["a", "b"], [1, -1], seed=i))
        before = snapshot(store), store.settings("test/game-v0")
    with Store(path, ratings=FailsOnDraws()) as store:
        with pytest.raises(RuntimeError):
            store.set_settings("test/game-v0", {"draw_probability": 0.5})
        assert (snapshot(store), store.settings("test/game-v0")) == before  # neither the settings nor the ratings
        settings, changed = store.set_settings("test/game-v0", {"beta": 3.0})
        assert settings["beta"] == store.settings("test/game-v0")["beta"] == 3.0 and changed
        assert store.rebuild(dry_run=True) == {}


def test_a_transaction_inside_another_is_a_savepoint_of_it(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        with store.transaction():
            store.record(result(["a", "b"], [1, -1], seed=1))
            assert store.rebuild(dry_run=True) == {}  # rolls back only its own changes
            with pytest.raises(RuntimeError):
                with store.transaction():
                    store.record(result(["a", "b"], [1, -1], seed=2))
                    raise RuntimeError("undo this one")
        assert counts(store)["matches"] == 1 and counts(store)["ratings"] == 2


def test_players_have_one_writer_that_keeps_or_updates_a_row(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        store.record(result(["snapshot/x", "b"], [1, -1], seed=1), kinds={"snapshot/x": "snapshot"})
        store.register_player("snapshot/x", "snapshot", env="test/game-v0", iteration=3, checkpoint="/w")
        store.record(result(["snapshot/x", "b"], [1, -1], seed=2), kinds={"snapshot/x": "policy"})
        row = store.db.execute("SELECT kind, env, iteration, checkpoint FROM players WHERE id = 'snapshot/x'").fetchone()
        assert row == ("snapshot", "test/game-v0", 3, "/w")


def test_a_store_opened_to_create_on_use_exists_only_once_something_is_stored(tmp_path):
    path = tmp_path / "fresh.db"
    with open_store(path, create_on_use=True) as store:
        assert store.path == path and not path.exists()  # asking where it is creates nothing
    assert not path.exists()
    with open_store(path, create_on_use=True) as store:
        assert store.record(result(["a", "b"], [1, -1], 1)).new
    with open_store(path, readonly=True) as store:
        assert counts(store)["matches"] == 1
    with open_store(path, create_on_use=True) as store:  # an existing store is opened (and checked) at once
        assert isinstance(store, Store)
    with pytest.raises(StoreError, match="folder .* does not exist"):
        open_store(tmp_path / "missing" / "x.db", create_on_use=True)


def test_a_league_resumed_without_fixed_players_retires_the_old_ones(tmp_path):
    from types import SimpleNamespace

    from arena.pool import Member
    from arena.store import leagues

    league = SimpleNamespace(name="l", env="openspiel/tic_tac_toe-v0", path="l.toml", text="")
    with open_store(tmp_path / "a.db") as store:
        leagues.start(store, league, [Member("random", "fixed", policy="random")], resume=False)
        assert [m.id for m in leagues.pool(store, "l").fixed()] == ["random"]
        leagues.start(store, league, [], resume=True)  # the file now lists no fixed player (self-play only)
        active = store.db.execute("SELECT id, active FROM league_members WHERE league = 'l'").fetchall()
    assert active == [("random", 0)]
