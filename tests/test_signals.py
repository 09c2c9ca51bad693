"""SIGTERM (and SIGINT) stop `arena match`, `tournament`, `league run` and `train` cleanly, as real signals to real
processes: within 30 s, with what was finished stored, no traceback, and no process of the command left behind.

Each command runs in its own session (as under `timeout` or a service manager) and gets the signal the way
`timeout` sends it: to its whole process group, Ray's processes included.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import _sessions as sessions

ARENA = str(Path(sys.executable).with_name("arena"))
STOP_WITHIN_S = 30
TINY_HP = ["--hp", "train_batch_size_per_learner=128", "--hp", "minibatch_size=64", "--hp", "num_epochs=1"]
LEAGUE = """
name = "sig"
env = "openspiel/tic_tac_toe"
seed = 3
[[learners]]
name = "main"
hidden = [16]
hyperparameters = { train_batch_size_per_learner = 128, minibatch_size = 64, num_epochs = 1 }
[[fixed]]
policy = "random"
[evaluation]
games = 20
[snapshots]
every = 1
[stop]
rounds = 500
"""


def default_signals() -> None:
    """As from a terminal: earlier in-process tests may leave pytest ignoring or blocking SIGINT or SIGTERM, which a
    child inherits (Python then never raises KeyboardInterrupt in it)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute(sql).fetchone()[0] or 0)
    except sqlite3.OperationalError:
        return 0


def session_processes(sid: int) -> list[str]:
    return [f"{pid} {name}" for pid, name in sessions.session_processes(sid)]


def signal_when(cmd: list[str], ready, sig: int, tmp_path: Path, env: dict[str, str] | None = None,
                ready_within: float = 180) -> tuple[subprocess.Popen, str, str, float]:
    """Start cmd in its own session, wait until ready(stderr so far) holds, signal its process group; returns the
    process, its stdout and stderr, and the seconds it took to stop."""
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=tmp_path,
                                env={**os.environ, **(env or {})}, start_new_session=True, preexec_fn=default_signals)
        try:
            deadline = time.monotonic() + ready_within
            while not ready(log.read_text()):
                assert proc.poll() is None, f"{cmd[1]} ended before it was signalled: {log.read_text()[-1500:]}"
                assert time.monotonic() < deadline, f"{cmd[1]} not ready in {ready_within} s: {log.read_text()[-1500:]}"
                time.sleep(0.1)
            os.killpg(proc.pid, sig)
            sent = time.monotonic()
            try:
                out, _ = proc.communicate(timeout=STOP_WITHIN_S + 30)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{cmd[1]} still running {STOP_WITHIN_S + 30} s after {signal.Signals(sig).name}: "
                            + log.read_text()[-1500:], pytrace=False)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    time.sleep(1)  # Ray's processes exit once their driver has gone
    left = session_processes(proc.pid)
    if left:
        for line in left:
            os.kill(int(line.split()[0]), signal.SIGKILL)  # this test's own leftovers, found by their session id
    assert not left, f"processes left behind: {left}"
    return proc, out, log.read_text(), took


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_match_and_keeps_every_game_played(tmp_path, sig):
    db = tmp_path / "m.db"
    proc, out, err, took = signal_when(
        [ARENA, "match", "openspiel/tic_tac_toe", "random", "random", "--games", "1000000", "--db", str(db),
         "--json"], lambda _: count(db, "SELECT count(*) FROM matches") >= 50, sig, tmp_path)
    assert took < STOP_WITHIN_S and "Traceback" not in err, err[-2000:]
    doc = json.loads(out)
    assert doc["interrupted"] and 50 <= doc["games_played"] < 1_000_000
    assert count(db, "SELECT count(*) FROM matches") == doc["games_played"] == doc["stored"]["new"]
    check = subprocess.run([ARENA, "ratings", "rebuild", "--check", "--db", str(db)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_tournament_which_resumes_from_there(tmp_path, sig):
    db = tmp_path / "t.db"
    args = ["tournament", "openspiel/tic_tac_toe", "random", "mcts:simulations=20", "alphabeta:depth=2",
            "--games-per-pair", "200", "--name", "sig", "--seed", "1", "--db", str(db)]
    proc, out, err, took = signal_when([ARENA, *args], lambda _: count(db, "SELECT count(*) FROM matches") >= 20,
                                       sig, tmp_path)
    assert took < STOP_WITHIN_S and "Traceback" not in err, err[-2000:]
    assert proc.returncode == 130 and "--resume" in err
    stored = count(db, "SELECT count(*) FROM matches")
    assert 20 <= stored < 600
    # what was played is kept: resuming plays only the rest, and the store holds each game once
    resumed = subprocess.run([ARENA, *args, "--resume", "--json"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["games"] == 600 == count(db, "SELECT count(DISTINCT id) FROM matches")


def test_sigterm_stops_a_league_after_storing_its_finished_rounds(tmp_path):
    (tmp_path / "sig.toml").write_text(LEAGUE)
    db = tmp_path / "l.db"
    env = {"ARENA_SNAPSHOTS": str(tmp_path / "snapshots")}
    done = "SELECT count(*) FROM league_rounds WHERE phase = 'done'"
    proc, out, err, took = signal_when([ARENA, "league", "run", "sig.toml", "--db", str(db)],
                                       lambda _: count(db, done) >= 2, signal.SIGTERM, tmp_path, env)
    assert took < STOP_WITHIN_S and "Traceback" not in err and "SIGTERM received" not in err, err[-2000:]
    assert proc.returncode == 0 and "Interrupted (interrupted)" in err, err[-3000:]
    rounds = count(db, done)
    assert rounds >= 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status, stop_reason FROM leagues").fetchall() == [("stopped", "interrupted")]
    status = subprocess.run([ARENA, "league", "status", "sig", "--db", str(db), "--json"], capture_output=True,
                            text=True)
    assert json.loads(status.stdout)["rounds"] == rounds
    check = subprocess.run([ARENA, "ratings", "rebuild", "--check", "--db", str(db)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_sigterm_stops_training_and_keeps_a_rated_snapshot(tmp_path):
    db = tmp_path / "t.db"
    proc, out, err, took = signal_when(
        [ARENA, "train", "openspiel/tic_tac_toe", "--opponents", "random", "--stop-minutes", "5", "--hidden", "16",
         "--eval-games", "4", "--name", "st", "--db", str(db), *TINY_HP],
        lambda text: "iter    2 " in text, signal.SIGTERM, tmp_path, {"ARENA_SNAPSHOTS": str(tmp_path / "snaps")})
    assert took < STOP_WITHIN_S and "Traceback" not in err and "SIGTERM received" not in err, err[-2000:]
    assert proc.returncode == 0 and "Stopped (interrupted)" in err
    assert "Final snapshot: snapshot/st-it" in out
    assert list((tmp_path / "snaps").glob("st-it*/weights.pt"))
    assert count(db, "SELECT count(*) FROM players WHERE id LIKE 'snapshot/st-it%'") >= 1


def test_processes_a_league_killed_with_sigkill_left_running_are_stopped_by_status_then_it_resumes(tmp_path):
    """Killed alone with SIGKILL, a league's driver leaves some of Ray's processes running (its dashboard and
    runtime-env agents here). The run recorded them in the store; `arena league status` stops them, by their
    recorded pid and start time, and says so; --resume then finishes the league."""
    from arena import processes

    (tmp_path / "sig.toml").write_text(LEAGUE.replace("rounds = 500", "rounds = 3"))
    db = tmp_path / "l.db"
    env = {**os.environ, "ARENA_SNAPSHOTS": str(tmp_path / "snapshots")}
    proc = subprocess.Popen([ARENA, "league", "run", "sig.toml", "--db", str(db)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=default_signals)
    try:
        deadline = time.monotonic() + 180
        while count(db, "SELECT count(*) FROM league_rounds WHERE phase = 'done'") < 1:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        with sqlite3.connect(db) as conn:
            run = json.loads(conn.execute("SELECT run FROM leagues").fetchone()[0])
        assert run["pid"] == proc.pid and {"raylet", "gcs_server"} <= {c[2] for c in run["children"]}
        proc.kill()  # the driver alone
        proc.wait()
        time.sleep(3)
        left = processes.leftovers(run)
        assert left, "expected some of Ray's processes to outlive their killed driver"
        status = subprocess.run([ARENA, "league", "status", "sig", "--db", str(db), "--json"], capture_output=True,
                                text=True, env=env, timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"Stopped {len(left)} processes left running by the killed run of league sig" in status.stderr
        assert processes.leftovers(run) == []
        doc = json.loads(status.stdout)
        assert doc["status"] == "stopped" and doc["stop_reason"].startswith("killed")
        resumed = subprocess.run([ARENA, "league", "run", "sig.toml", "--db", str(db), "--resume"], cwd=tmp_path,
                                 env=env, capture_output=True, text=True, timeout=300, preexec_fn=default_signals)
        assert resumed.returncode == 0 and "Finished (3 rounds)" in resumed.stderr, resumed.stderr[-2000:]
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT status, run FROM leagues").fetchall() == [("finished", None)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for line in session_processes(proc.pid):
            os.kill(int(line.split()[0]), signal.SIGKILL)


def test_a_second_sigterm_while_the_handler_runs_is_ignored_not_a_deadlock():
    """GNU timeout signals the child and then its process group: the second SIGTERM re-enters the handler. Here it
    arrives while the handler holds the Event's lock, where a handler that takes the lock again deadlocks."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import os, signal
        from arena import signals
        signals.install()
        real_set = signals._received.set
        def set_while_signalled_again():
            with signals._received._cond:  # the lock Event.set takes; the handler re-enters while it is held
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(3):
                    pass
            real_set()
        signals._received.set = set_while_signalled_again
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):
                pass
        except signals.Terminated:
            print("stopped once")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0 and done.stdout.strip() == "stopped once", done.stderr[-500:]
