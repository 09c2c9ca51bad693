"""The store commands as a user runs them: rated matches, leaderboard, h2h, history, payoff, bad input."""
from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ARENA = str(Path(sys.executable).with_name("arena"))


def arena(*args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"ARENA_DB": db} if db else {})}
    return subprocess.run([ARENA, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("store") / "arena.db")
    for args in (["connect_four_heuristic", "random", "-n", "16", "-s", "1"],
                 ["mcts:simulations=50", "random", "-n", "8", "-s", "2"],
                 ["mcts:simulations=50", "connect_four_heuristic", "-n", "4", "-s", "3"]):
        out = arena("match", "openspiel/connect_four", *args, "--db", path)
        assert out.returncode == 0, out.stderr
    return path


def test_leaderboard_ranks_stronger_policies_higher_with_uncertainty(db):
    rows = json.loads(arena("leaderboard", "--json", db=db).stdout)
    order = [r["player"] for r in rows]
    assert order.index("random") == 2 and {r["env"] for r in rows} == {"openspiel/connect_four-v0"}
    assert all(0 < r["sigma"] < 25 / 3 and r["conservative"] == pytest.approx(r["mu"] - 3 * r["sigma"]) for r in rows)
    random_row = rows[2]
    assert random_row["games"] == 24 and random_row["wins"] == 0
    bt = json.loads(arena("leaderboard", "--method", "bt", "--json", db=db).stdout)
    assert bt[-1]["player"] == "random"
    assert all(r["bt_lo"] <= r["bt"] <= r["bt_hi"] for r in bt)
    nash = json.loads(arena("leaderboard", "--method", "nash", "--json", db=db).stdout)
    assert nash[-1]["player"] == "random" and nash[-1]["nash"] < 0 and nash[-1]["nash_mass"] == 0
    assert sum(r["nash_mass"] for r in nash) == pytest.approx(1) and all(r["nash"] <= 0 for r in nash)
    assert all(isinstance(r["beats_higher"], list) for r in rows + bt + nash)
    top = json.loads(arena("leaderboard", "--env", "openspiel/connect_four", "--top", "1", "--json", db=db).stdout)
    assert len(top) == 1 and top[0]["player"] == order[0]
    table = list(csv.DictReader(io.StringIO(arena("leaderboard", "--csv", db=db).stdout)))
    assert [r["player"] for r in table] == order and "mu" in table[0]


def test_h2h_and_payoff_agree_with_the_stored_matches(db):
    with sqlite3.connect(db) as conn:
        wins, games = conn.execute(
            "SELECT sum(a.rank < b.rank), count(*) FROM participants a JOIN participants b "
            "ON a.match_seq = b.match_seq AND a.player = 'connect_four_heuristic' AND b.player = 'random'").fetchone()
    h2h = json.loads(arena("h2h", "connect_four_heuristic", "random", "--json", db=db).stdout)
    assert h2h == [{"env": "openspiel/connect_four-v0", "player": "connect_four_heuristic", "opponent": "random",
                    "games": games, "wins": wins, "draws": 0, "losses": games - wins, "score": wins / games}]
    back = json.loads(arena("h2h", "random", "connect_four_heuristic", "--json", db=db).stdout)[0]
    assert (back["wins"], back["losses"]) == (games - wins, wins)
    table = json.loads(arena("payoff", "--json", db=db).stdout)[0]
    i, j = table["players"].index("connect_four_heuristic"), table["players"].index("random")
    assert table["score"][i][j] == pytest.approx(wins / games) and table["games"][i][j] == games
    assert table["score"][i][i] is None


def test_history_follows_every_rated_game(db):
    rows = json.loads(arena("history", "random", "--json", db=db).stdout)
    assert len(rows) == 24 and [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    assert rows[-1]["sigma"] < rows[0]["sigma"]
    board = {r["player"]: r for r in json.loads(arena("leaderboard", "--json", db=db).stdout)}
    assert rows[-1]["mu"] == board["random"]["mu"]
    assert arena("history", "mcts:simulations=50", "--json", db=db).returncode == 0


@pytest.mark.parametrize("args,fragment", [
    (["h2h", "mcst:simulations=50", "random"], "Unknown player 'mcst:simulations=50'"),
    (["history", "nobody"], "Unknown player 'nobody'"),
    (["leaderboard", "--env", "openspiel/tic_tac_toe"], "Unknown env 'openspiel/tic_tac_toe'"),
    (["leaderboard", "--db", "/no/such/dir/x.db"], "No Arena store at /no/such/dir/x.db"),
])
def test_bad_queries_give_one_line(db, args, fragment):
    out = arena(*args, db=db)
    assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_payoff_needs_an_env_when_the_store_holds_several(tmp_path):
    path = str(tmp_path / "two.db")
    for env in ("openspiel/tic_tac_toe", "pettingzoo/tictactoe_v3"):
        assert arena("match", env, "random", "constant", "-n", "2", "--db", path).returncode == 0
    out = arena("payoff", db=path)
    assert out.returncode == 2 and "holds 2 games; pick one with --env" in out.stderr
    assert json.loads(arena("payoff", "--env", "pettingzoo/tictactoe", "--json", db=path).stdout)[0]["env"] == \
        "pettingzoo/tictactoe_v3"
    board = json.loads(arena("leaderboard", "--json", db=path).stdout)
    assert {r["env"] for r in board} == {"openspiel/tic_tac_toe-v0", "pettingzoo/tictactoe_v3"}
