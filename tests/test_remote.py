"""Agents from outside (arena.remote): exec:COMMAND and tcp:HOST:PORT play wherever a policy id does; an agent that
exits, stalls, answers garbage, plays an illegal move or disconnects forfeits that game with its reason, the rest of
the match is played, and no process it started is left."""
from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.errors import IncompatiblePolicyError, RemoteAgentError
from arena.registry import Registry
from arena.services.headtohead import HeadToHead, head_to_head

ROOT = Path(__file__).resolve().parents[1]
ROGUE = ROOT / "tests" / "agents" / "rogue_agent.py"
EXAMPLE = ROOT / "examples" / "connect_four_agent.py"
GAME = "openspiel/connect_four"


def command(*args: object) -> str:
    return "exec:" + shlex.join([sys.executable, *map(str, args)])


def pids(log: Path) -> list[int]:
    return [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("pid")]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def alive(pid: int) -> bool:
    """Whether the process is still there 2 s on (SIGKILL is sent at once, but a process takes a moment to die)."""
    deadline = time.monotonic() + 2
    while _alive(pid):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.02)
    return False


def match(policies: tuple[str, ...], games: int = 6, **kw: object) -> dict:
    return head_to_head(Registry(), HeadToHead(GAME, policies, games=games, seed=3, **kw))


def test_the_example_agent_plays_over_a_pipe_and_beats_random():
    doc = match((command(EXAMPLE), "random"), games=10)
    assert doc["games_played"] == 10 and not doc["forfeits"] and not doc["errors"]
    mine = doc["standings"][0]
    assert mine["player"].startswith("exec:") and mine["score"] >= 0.8


@pytest.mark.parametrize("mode, reason", [
    ("exit", "exited with code 3: rogue agent: exiting mid-game"),
    ("sleep", "gave no act within 0.5s"),
    ("garbage", "answered garbage where act was due: not JSON: 'this is not JSON'"),
    ("illegal", "illegal action 99"),
    ("error", "the agent gave up: rogue agent resigns"),
])
def test_a_misbehaving_agent_forfeits_that_game_and_the_match_goes_on(tmp_path, mode, reason):
    log = tmp_path / "agent.log"
    doc = match((command(ROGUE, mode, "--log", log, "--game", 2), "random"), games=6, move_timeout=0.5)
    assert doc["games_played"] == 6 and not doc["errors"]
    forfeits = [f for f in doc["forfeits"] if f["player"].startswith("exec:")]
    assert len(forfeits) == 1, doc["forfeits"]
    assert reason in forfeits[0]["reason"]
    # every other game was played to its end: the rogue played first legal moves there, and lost or won normally
    assert sum(1 for r in doc["results"] if not r["forfeits"]) == 5
    started = pids(log)
    assert len(started) >= 2 if mode in ("exit", "sleep", "garbage") else len(started) >= 1
    assert not [p for p in started if alive(p)]


def test_the_game_clock_forfeits_an_agent_that_thinks_too_long_over_a_game(tmp_path):
    log = tmp_path / "agent.log"
    slow = command(ROGUE, "sleep", "--log", log, "--game", 1, "--after", 3)
    doc = match((slow, "random"), games=2, move_timeout=5, game_timeout=0.3)
    reasons = [f["reason"] for f in doc["forfeits"]]
    assert any("ran out of its 0.3s for the game" in r for r in reasons), reasons
    assert doc["games_played"] == 2
    assert not [p for p in pids(log) if alive(p)]


def test_processes_the_agent_starts_are_ended_with_it(tmp_path):
    log = tmp_path / "agent.log"
    doc = match((command(ROGUE, "grandchild", "--log", log), "random"), games=2)
    assert doc["games_played"] == 2 and not doc["forfeits"]
    started = pids(log)
    assert len(started) >= 2  # the agent and its own `sleep 300`
    assert not [p for p in started if alive(p)]


def test_under_two_workers_each_worker_runs_its_own_agents_and_the_games_are_the_same(tmp_path):
    logs = tmp_path / "one.log", tmp_path / "two.log"
    one = match((command(ROGUE, "none", "--log", logs[0]), "connect_four_heuristic"), games=24)
    two = match((command(ROGUE, "none", "--log", logs[1]), "connect_four_heuristic"), games=24, workers=2)
    assert [r["returns"] for r in one["results"]] == [r["returns"] for r in two["results"]]
    assert not one["forfeits"] and not two["forfeits"]
    parents = {int(line.split()[2]) for line in logs[1].read_text().splitlines() if line.startswith("pid")}
    assert len(parents - {os.getpid()}) == 2  # started by the two worker processes (and one check here)
    assert not [p for log in logs for p in pids(log) if alive(p)]


@pytest.mark.parametrize("mode, message", [
    ("crash", "exited with code 1: rogue agent: crashing at start"),
    ("old-protocol", "speaks protocol version 0; this Arena speaks 1"),
])
def test_an_agent_that_cannot_start_is_one_line_before_any_game(tmp_path, mode, message):
    with pytest.raises(RemoteAgentError, match=message):
        match((command(ROGUE, mode, "--log", tmp_path / "agent.log"), "random"))
    assert not [p for p in pids(tmp_path / "agent.log") if alive(p)]


def test_an_agent_that_never_says_hello_times_out(tmp_path, monkeypatch):
    from arena.remote import client

    monkeypatch.setattr(client, "HELLO_TIMEOUT", 0.5)
    with pytest.raises(RemoteAgentError, match="gave no hello within 0.5s"):
        match((command(ROGUE, "no-hello", "--log", tmp_path / "agent.log"), "random"))
    assert not [p for p in pids(tmp_path / "agent.log") if alive(p)]


def test_an_agent_that_does_not_play_the_game_says_which_it_plays():
    with pytest.raises(IncompatiblePolicyError, match="its hello lists only openspiel/connect_four"):
        head_to_head(Registry(), HeadToHead("openspiel/tic_tac_toe", (command(EXAMPLE), "random"), games=2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tcp_agent(tmp_path):
    """Start an agent server (rogue_agent.py --listen) for the test; killed, by its pid, afterwards."""
    started = []

    def start(*args: object) -> str:
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(ROGUE), *map(str, args), "--listen", str(port)],
                                stderr=subprocess.PIPE)
        started.append(proc)
        assert b"listening" in proc.stderr.readline()
        return f"tcp:127.0.0.1:{port}"

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_tcp_agent_plays_and_one_that_disconnects_forfeits_that_game(tmp_path, tcp_agent):
    log = tmp_path / "agent.log"
    address = tcp_agent("disconnect", "--log", log, "--game", 2)
    doc = match((address, "random"), games=6)
    assert doc["games_played"] == 6 and not doc["errors"]
    forfeits = [f for f in doc["forfeits"] if f["player"].startswith("tcp:")]
    assert len(forfeits) == 1 and "disconnected" in forfeits[0]["reason"], doc["forfeits"]


def test_the_cli_plays_a_remote_agent_and_refuses_a_dead_address_in_one_line(tmp_path):
    arena = [str(Path(sys.executable).with_name("arena"))]
    ok = subprocess.run(arena + ["match", GAME, command(EXAMPLE), "random", "-n", "4", "--json", "--seed", "1"],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["games_played"] == 4
    bad = subprocess.run(arena + ["match", GAME, f"tcp:127.0.0.1:{free_port()}", "random"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "cannot connect" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run(arena + ["match", GAME, "exec:no-such-agent-binary", "random"],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert missing.returncode == 2 and "cannot start 'no-such-agent-binary'" in missing.stderr


def test_the_python_helper_serves_an_agent(tmp_path):
    agent = tmp_path / "first.py"
    agent.write_text("from arena.remote import Agent, run\n\n"
                     "class First(Agent):\n"
                     "    name, games = 'first', ['openspiel/*']\n"
                     "    def act(self, message):\n"
                     "        return message['legal_actions'][-1]\n\n"
                     "run(First)\n")
    doc = match((command(agent), "random"), games=4)
    assert doc["games_played"] == 4 and not doc["forfeits"]
    moves = match((command(agent), "random"), games=2, record_moves=True)["results"][0]["moves"]
    assert moves[0][1] == 6  # its first move (seat 0 in game 0) is the last legal action


def test_a_swiss_tournament_of_a_remote_agent_mcts_and_the_heuristic_runs_to_its_end_on_two_workers(tmp_path):
    from arena.services.recording import open_store
    from arena.services.tournament import TournamentRequest, run_tournament

    log = tmp_path / "agent.log"
    agent = command(ROGUE, "none", "--log", log)
    request = TournamentRequest(GAME, (agent, "mcts:simulations=10", "connect_four_heuristic"), format="swiss",
                                games_per_pair=2, seed=5, workers=2)
    with open_store(tmp_path / "t.db", create_on_use=True) as store:
        doc = run_tournament(Registry(), store, request)
    standings = {row["player"]: row for row in doc["standings"]}
    assert set(standings) == {registry_id(agent), "mcts:simulations=10", "connect_four_heuristic"}
    assert sum(row["games"] for row in standings.values()) == 2 * 2 * doc["rounds"]  # every game stored, two seats
    assert doc["games"] == 2 * doc["rounds"] and doc["errors"] == 0  # one pairing (and a bye) per round
    assert not [p for p in pids(log) if alive(p)]


def registry_id(spec: str) -> str:
    return Registry().player_id(spec)
