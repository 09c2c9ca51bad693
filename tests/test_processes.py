"""arena.processes: a run's processes are recorded by pid and start time, and only those are ever stopped."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from arena import processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

OWNER = ("import subprocess, sys, time; child = subprocess.Popen(['sleep', '120']); print(child.pid, flush=True); "
         "time.sleep(120)")


def test_a_killed_runs_leftovers_are_found_and_stopped_and_nothing_else(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    child = int(owner.stdout.readline())
    try:
        rec = processes.record(owner.pid)
        assert [c[0] for c in rec["children"]] == [child] and rec["children"][0][2] == "sleep"
        assert processes.owner_alive(rec) and processes.leftovers(rec) == []  # still running: left alone
        owner.kill()
        owner.wait()
        assert not processes.owner_alive(rec)
        assert [c[0] for c in processes.leftovers(rec)] == [child]  # the sleep outlived its killed owner
        elsewhere = {**rec, "boot": "another-boot"}  # a record from before a reboot (or another machine)
        assert processes.leftovers(elsewhere) == []
        assert [c[0] for c in processes.stop(processes.leftovers(rec))] == [child]
        assert processes.leftovers(rec) == []
    finally:
        owner.kill()
        subprocess.run(["kill", "-9", str(child)], capture_output=True)


def test_a_reused_pid_is_never_signalled():
    proc = subprocess.Popen(["sleep", "120"])
    try:
        (entry,) = [c for c in processes.descendants() if c[0] == proc.pid]
        pid, start, name = entry
        assert name == "sleep"
        # the same pid with another start time is another process: not stopped
        assert processes.stop([[pid, start + 1, name]], grace=0.1) == []
        time.sleep(0.2)
        assert proc.poll() is None
        assert processes.stop([[pid, start, name]], grace=2) == [[pid, start, name]]
        assert proc.wait(timeout=5) == -15  # SIGTERM first
    finally:
        proc.kill()
        proc.wait()


GROUP = ("import os, subprocess, sys, time; a = subprocess.Popen(['sleep', '120']); "
         "b = subprocess.Popen(['sleep', '121'], start_new_session=True); print(a.pid, b.pid, flush=True); "
         "time.sleep(120)")


def test_a_process_group_is_found_with_what_runs_below_it_in_other_groups_and_killed():
    """As Ray's nodes are: `ray start` leaves a group (raylet, agents) whose workers each start a group of their own."""
    leader = subprocess.Popen([sys.executable, "-c", GROUP], stdout=subprocess.PIPE, text=True, start_new_session=True)
    other = subprocess.Popen(["sleep", "120"])  # not in the group, nor below it
    try:
        a, b = map(int, leader.stdout.readline().split())
        found = processes.group(leader.pid)
        assert sorted(pid for pid, _, _ in found) == sorted([leader.pid, a, b])
        assert processes.kill(found) == found
        assert leader.wait(timeout=5) == -9
        deadline = time.monotonic() + 5
        while processes.group(leader.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.group(leader.pid) == [] and processes.kill(found) == []  # gone: nothing left to signal
        assert other.poll() is None
    finally:
        for proc in (leader, other):
            proc.kill()
            proc.wait()


def test_signals_are_held_back_during_a_store_write_and_acted_on_after_it():
    """A stop between BEGIN and COMMIT left a transaction open (the next write then went into it and was lost with
    it); one just after COMMIT made the Recorder count stored games as already stored. The store's transactions
    and the Recorder's bookkeeping hold SIGINT and SIGTERM back until they are done."""
    import signal

    code = """
import os, signal, time
from arena import signals
signals.install()
out = []
for sig in (signal.SIGTERM, signal.SIGINT):
    try:
        with signals.deferred():
            with signals.deferred():
                os.kill(os.getpid(), sig)
                time.sleep(0.05)
            out.append('finished')
        out.append('went on')
    except KeyboardInterrupt as e:
        out.append(type(e).__name__)
print(out, signal.getsignal(signal.SIGINT) is signal.default_int_handler)
"""

    def default_signals() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         preexec_fn=default_signals)
    assert run.stdout.strip() == "['finished', 'Terminated', 'finished', 'KeyboardInterrupt'] True", run.stderr
