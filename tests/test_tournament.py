"""Tournaments: pairings of each format, standings from the store, resume after kill -9, clear errors."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import pytest

from arena.tournament import Pairing, Record, TournamentSpec, pair_round, swiss_pairings

ARENA = str(Path(sys.executable).with_name("arena"))
C4 = "openspiel/connect_four"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARENA, *args], capture_output=True, text=True, timeout=300)


def spec(fmt: str, players: int) -> TournamentSpec:
    return TournamentSpec("t", "g", tuple(f"p{i}" for i in range(players)), fmt, 1, 2, 0)


def test_round_robin_meets_everyone_once_and_gauntlet_puts_the_first_against_each():
    rr = pair_round(spec("round-robin", 5), 1, {})
    assert sorted(tuple(sorted((p.a, p.b))) for p in rr) == sorted(combinations([f"p{i}" for i in range(5)], 2))
    gauntlet = pair_round(spec("gauntlet", 4), 1, {})
    assert [(p.a, p.b) for p in gauntlet] == [("p0", "p1"), ("p0", "p2"), ("p0", "p3")]


def play_swiss(players: int, rounds: int, strength) -> list[list[Pairing]]:
    """Swiss rounds where the stronger player (by `strength`) always wins, recorded as tally() would."""
    names = [f"p{i}" for i in range(players)]
    records = {p: Record(p) for p in names}
    history = []
    for r in range(1, rounds + 1):
        pairings = swiss_pairings(r, names, records)
        history.append(pairings)
        for p in pairings:
            if p.b is None:
                records[p.a].byes += 1
                records[p.a].points += 1
                continue
            winner = max(p.a, p.b, key=strength)
            records[winner].points += 1
            records[p.a].opponents.append(p.b)
            records[p.b].opponents.append(p.a)
    return history


@pytest.mark.parametrize("players", [4, 5, 7, 8])
def test_swiss_pairs_equal_scores_without_repeats_and_gives_byes_to_the_bottom(players):
    rounds = players - 1 if players % 2 == 0 else players
    history = play_swiss(players, rounds, strength=lambda p: int(p[1:]))
    met = [frozenset((p.a, p.b)) for rnd in history for p in rnd if p.b]
    assert len(met) == len(set(met))  # nobody meets twice while the rounds allow it
    for rnd in history:
        seen = [x for p in rnd for x in (p.a, p.b) if x]
        assert sorted(seen) == sorted(f"p{i}" for i in range(players))  # everyone plays or has the bye
    byes = [p.a for rnd in history for p in rnd if p.b is None]
    assert len(byes) == len(set(byes)) == (rounds if players % 2 else 0)
    if players % 2:  # after round 1, the bye goes to a player at the bottom: a round-1 loser, with 0 points
        assert byes[1] in {min(p.a, p.b, key=lambda x: int(x[1:])) for p in history[0] if p.b}
    # round 2 pairs the round-1 winners with each other
    winners = {max(p.a, p.b, key=lambda x: int(x[1:])) for p in history[0] if p.b}
    top = history[1][0]
    assert {top.a, top.b} <= winners


def test_swiss_repeats_a_pairing_only_when_it_must():
    history = play_swiss(4, 5, strength=lambda p: int(p[1:]))  # 4 players have only 3 rounds of new opponents
    assert len(history) == 5 and all(len(r) == 2 for r in history)


def stored_games(db: Path, name: str) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM matches WHERE event = ?", (f"tournament:{name}",)).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_round_robin_ranks_by_strength_and_reports_consistent_tables(tmp_path):
    # MCTS-1000 beats the heuristic about 9 games in 10; MCTS-40 is close to even with it, which 8 games cannot order
    db = tmp_path / "t.db"
    out = run("tournament", C4, "random", "connect_four_heuristic", "mcts:simulations=1000", "--games-per-pair", "8",
              "--seed", "1", "--workers", "2", "--db", str(db), "--name", "rr", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [s["player"] for s in doc["standings"]] == ["mcts:simulations=1000", "connect_four_heuristic", "random"]
    assert doc["games"] == 24 == stored_games(db, "rr")
    for s in doc["standings"]:
        row = doc["crosstable"][s["player"]]
        assert s["points"] == sum(float(c.split("/")[0]) for c in row.values() if c)
        assert s["games"] == 16 and s["rating"] is not None
    payoff = doc["payoff"]
    assert payoff["random"]["connect_four_heuristic"] + payoff["connect_four_heuristic"]["random"] == 1.0
    board = json.loads(run("leaderboard", "--db", str(db), "--league", "tournament:rr", "--json").stdout)
    assert {p["player"] for p in board} == {s["player"] for s in doc["standings"]}


def test_a_tournament_killed_halfway_resumes_without_losing_or_repeating_a_game(tmp_path):
    args = ["tournament", C4, "random", "mcts:simulations=150", "connect_four_heuristic", "mcts:simulations=100",
            "--format", "swiss", "--rounds", "3", "--games-per-pair", "4", "--seed", "9", "--name", "sw", "-j", "2"]
    db = tmp_path / "killed.db"
    proc = subprocess.Popen([ARENA, *args, "--db", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if stored_games(db, "sw") >= 8:  # round 1 is stored: kill it in round 2
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = stored_games(db, "sw")
    assert 8 <= before < 24
    listed = json.loads(run("tournaments", "--db", str(db), "--json").stdout)
    assert [(t["name"], t["games"], t["finished_at"]) for t in listed] == [("sw", before, None)]
    again = run(*args, "--db", str(db))
    assert again.returncode == 2 and "--resume" in again.stderr  # a second start without --resume is refused
    resumed = run(*args, "--db", str(db), "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(run("tournaments", "--db", str(db), "--json").stdout)[0]["status"] == "finished"
    clean = run(*args, "--db", str(tmp_path / "clean.db"), "--json")
    assert stored_games(db, "sw") == stored_games(tmp_path / "clean.db", "sw") == 24  # 3 rounds of 2 pairings of 4 games
    a, b = json.loads(resumed.stdout), json.loads(clean.stdout)
    assert a["pairings"] == b["pairings"] and a["standings"] == b["standings"]


@pytest.mark.parametrize("args, fragment", [
    (["openspiel/kuhn_poker:players=3", "random", "mcts", "alphabeta"], "pair two players"),
    ([C4, "random", "random"], "listed twice"),
    ([C4, "random"], "at least two players"),
    ([C4, "random", "nope"], "Unknown policy"),
])
def test_bad_tournaments_give_one_line(tmp_path, args, fragment):
    out = run("tournament", *args, "--db", str(tmp_path / "t.db"))
    assert out.returncode != 0 and fragment in out.stderr and "Traceback" not in out.stderr


def test_resuming_with_other_settings_is_refused(tmp_path):
    db = str(tmp_path / "t.db")
    assert run("tournament", C4, "random", "connect_four_heuristic", "--name", "x", "--db", db).returncode == 0
    out = run("tournament", C4, "random", "alphabeta", "--name", "x", "--db", db, "--resume")
    assert out.returncode == 2 and "was started with players" in out.stderr
