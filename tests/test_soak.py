"""kill -9 soak: a league, a match and a tournament, each killed with SIGKILL (its whole process group) at 10 random
moments and run again each time, then checked: every game stored once, ratings equal a rebuild, the run finished,
nothing of a killed run left running.

The moments come from a seed printed with any failure (set ARENA_SOAK_SEED to replay one). They fall anywhere in a
run: while Python imports, while the store is created or migrated, while Ray starts, during training, during a
round's games, between a round's commits (see soak()).
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from _sessions import session_processes

from arena import processes

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

ARENA = str(Path(sys.executable).with_name("arena"))
KILLS = 10
SEED = int(os.environ.get("ARENA_SOAK_SEED", time.time_ns() % 2**31))

ROUNDS, GAMES, SNAPSHOTS = 80, 10, 2  # about 0.3 s a round here: Ray's start-up (~12 s) dominates
LEAGUE = f"""
name = "soak"
env = "openspiel/tic_tac_toe"
seed = 5
[[learners]]
name = "main"
hidden = [8]
hyperparameters = {{ train_batch_size_per_learner = 64, minibatch_size = 64, num_epochs = 1 }}
[[fixed]]
policy = "random"
[evaluation]
games = {GAMES}
snapshots = {SNAPSHOTS}
top = 0
[snapshots]
every = 1
[stop]
rounds = {ROUNDS}
[resources]
num_env_runners = 0
"""


def default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def in_session(sid: int) -> list[int]:
    """Live (not zombie) processes of session sid: what a killed command left running."""
    return [pid for pid, _ in session_processes(sid)]


def soak(cmd: list[str], first: list[str], again: list[str], tmp_path: Path, *, stored, total: int, startup: float,
         after: float, env: dict[str, str] | None = None, record=lambda: None,
         kills: int = KILLS) -> tuple[list[str], Any]:
    """Run cmd + first, kill its process group with SIGKILL at a random moment, then cmd + again, `kills` times; then
    cmd + again to the end. A moment is, three times in ten, a random time up to `startup` seconds after the start
    (imports, the store's creation, Ray starting); otherwise a random time up to `after` seconds after `stored()`
    (games in the store) reaches a random target between what is stored and a fifth of the way to `total`, so the
    kills land in the work whatever the machine's speed. Returns what happened at each kill and the last run."""
    rng = random.Random(SEED)
    env = {**os.environ, **(env or {})}
    log, sessions, records = [], [], []
    for k in range(kills):
        proc = subprocess.Popen(cmd + (first if k == 0 else again), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True, preexec_fn=default_signals)
        sessions.append(proc.pid)
        began, now = time.monotonic(), stored()
        if rng.random() < 0.3:
            what, wait = "at start-up", rng.uniform(0.05, startup)
        else:
            target = rng.randint(now + 1, now + max(1, (total - now) // 5))
            while stored() < target and proc.poll() is None:
                time.sleep(0.02)
            what, wait = f"once {target} games were stored", rng.uniform(0, after)
        try:
            proc.wait(timeout=wait)
            err = proc.stderr.read().decode()
            assert proc.returncode == 0, f"seed {SEED}, run {k}: exit {proc.returncode}: {err[-2000:]}"
            log.append(f"run {k} finished before its kill")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            log.append(f"run {k} killed {what}, {time.monotonic() - began:.1f} s in, {stored()} stored")
        proc.stderr.close()
        records.append(record())
    last = subprocess.run(cmd + again, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                          preexec_fn=default_signals)
    assert last.returncode == 0 and "Traceback" not in last.stderr, f"seed {SEED}: {log}: {last.stderr[-3000:]}"
    time.sleep(1)
    left = {sid: in_session(sid) for sid in sessions}
    for pids in left.values():
        for pid in pids:
            os.kill(pid, signal.SIGKILL)  # this test's own leftovers, by their session id
    assert not any(left.values()), f"seed {SEED}: processes of killed runs still running: {left}; {log}"
    assert not [r for r in records if r and processes.leftovers(r)], f"seed {SEED}: recorded leftovers remain"
    print(f"seed {SEED}: " + "; ".join(log))
    assert sum("killed" in x for x in log) == kills, f"seed {SEED}: a run ended before its kill: {log}"
    return log, last


def counter(db: Path):
    def stored() -> int:
        try:
            return query(db, "SELECT count(*) FROM matches")[0][0]
        except sqlite3.Error:
            return 0
    return stored


def query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def check_store(db: Path, expected: int, log: list[str]) -> None:
    total, distinct, ok = query(db, "SELECT count(*), count(DISTINCT id), sum(status = 'ok') FROM matches")[0]
    assert total == distinct == ok == expected, f"seed {SEED}: {total} stored, {distinct} ids, {ok} ok; {log}"
    check = subprocess.run([ARENA, "ratings", "rebuild", "--check", "--db", str(db)], capture_output=True, text=True)
    assert check.returncode == 0, f"seed {SEED}: ratings differ from a rebuild: {check.stdout}{check.stderr}; {log}"


def test_kill_9_soak_a_match_stores_every_game_once(tmp_path):
    db, games = tmp_path / "m.db", 3000
    cmd = [ARENA, "match", "openspiel/tic_tac_toe", "random", "alphabeta:depth=1", "--games", str(games), "--seed",
           "1", "--db", str(db)]
    log, _ = soak(cmd, [], [], tmp_path, stored=counter(db), total=games, startup=1.5, after=0.1)
    check_store(db, games, log)


def test_kill_9_soak_a_tournament_finishes_as_an_uninterrupted_one_would(tmp_path):
    db = tmp_path / "t.db"
    args = ["tournament", "openspiel/tic_tac_toe", "random", "alphabeta:depth=1", "alphabeta:depth=2",
            "mcts:simulations=10", "--format", "swiss", "--rounds", "3", "--games-per-pair", "300", "--name", "soak",
            "--seed", "2"]
    # start-up kills within 0.8 s: by 1.2-1.3 s a run has stored ~350 games, and one such run could finish the
    # tournament before the last kill (CI failure, seed 773007160)
    log, last = soak([ARENA, *args, "--db", str(db)], [], ["--resume"], tmp_path, stored=counter(db), total=1800,
                     startup=0.8, after=0.05)
    check_store(db, 3 * 2 * 300, log)  # 3 rounds of 2 pairings of 300 games
    resumed = subprocess.run([ARENA, *args, "--db", str(db), "--resume", "--json"], capture_output=True, text=True)
    clean = subprocess.run([ARENA, *args, "--db", str(tmp_path / "clean.db"), "--json"], capture_output=True, text=True)
    a, b = json.loads(resumed.stdout), json.loads(clean.stdout)
    assert a["pairings"] == b["pairings"] and a["standings"] == b["standings"], f"seed {SEED}: {log}"
    assert query(db, "SELECT finished_at IS NOT NULL FROM tournaments") == [(1,)]


def test_kill_9_soak_a_league_finishes_with_every_round_and_game_once(tmp_path):
    (tmp_path / "soak.toml").write_text(LEAGUE)
    db = tmp_path / "l.db"

    def record():
        try:
            rows = query(db, "SELECT run FROM leagues")
        except sqlite3.Error:
            return None
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    cmd = [ARENA, "league", "run", "soak.toml", "--db", str(db)]
    expected = sum(GAMES * (1 + min(r - 1, SNAPSHOTS)) for r in range(1, ROUNDS + 1))
    # 6 kills, not 10: each run of the league starts Ray (~12 s), which made this the suite's slowest test (~120 s)
    log, last = soak(cmd, [], ["--resume"], tmp_path, stored=counter(db), total=expected, startup=12.0, after=0.3,
                     env={"ARENA_SNAPSHOTS": str(tmp_path / "snapshots")}, record=record, kills=6)
    assert f"Finished ({ROUNDS} rounds)" in last.stderr or "already finished" in last.stderr, last.stderr[-2000:]
    # round r: the copy plays the fixed player and the latest `SNAPSHOTS` pool snapshots (one joins each round)
    check_store(db, expected, log)
    assert query(db, "SELECT status, stop_reason, run FROM leagues") == [("finished", f"{ROUNDS} rounds", None)]
    assert query(db, "SELECT round, phase FROM league_rounds ORDER BY round") == [
        (r, "done") for r in range(1, ROUNDS + 1)]
    members = {m for (m,) in query(db, "SELECT id FROM league_members WHERE kind = 'snapshot'")}
    assert members == {f"snapshot/soak-main-r{r:03d}" for r in range(1, ROUNDS + 1)}
