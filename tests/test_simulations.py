"""Simulations: the Multi Particle envs, team seats, continuous actions, team ratings and the return leaderboard."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arena.match import play_game
from arena.policy import BoundPolicy
from arena.registry import Registry
from arena.services.recording import open_store
from arena.store import return_board


@pytest.fixture(scope="module")
def reg():
    return Registry()


def test_mpe_teams_come_from_the_world(reg):
    tag = reg.make_game("mpe/simple_tag:num_adversaries=2")
    assert tag.info.num_seats == 3
    assert tag.info.teams == ((0, 1), (2,)) and tag.info.team_names == ("adversaries", "good")
    spread = reg.make_game("mpe/simple_spread")
    assert spread.info.teams == ((0, 1, 2),) and spread.info.cooperative


def test_a_policy_plays_a_whole_team_and_the_result_has_one_seat_per_team(reg):
    game = reg.make_game("mpe/simple_tag")
    result = play_game(game, [reg.make_policy("mpe-chase"), reg.make_policy("random")], seed=3, record_moves=True)
    assert result.players == ("mpe-chase", "random") and len(result.returns) == 2
    assert {seat for seat, _ in result.moves} == {0, 1, 2, 3}  # every agent moved, by its own observation
    assert result.ranks == tuple(0 if r >= max(result.returns) - game.info.draw_margin else 1 for r in result.returns)


def test_chase_tags_more_than_random_and_flee_is_tagged_less(reg):
    game = reg.make_game("mpe/simple_tag")

    def predators(pred, prey):
        return np.mean([play_game(game, [reg.make_policy(pred), reg.make_policy(prey)], seed=s).returns[0]
                        for s in range(30)])

    assert predators("mpe-chase", "random") > predators("random", "random") + 10
    assert predators("mpe-chase", "mpe-flee") < predators("mpe-chase", "random")


def test_spread_covers_the_landmarks_better_than_random(reg):
    game = reg.make_game("mpe/simple_spread")
    mean = {p: np.mean([play_game(game, [reg.make_policy(p)], seed=s).returns[0] for s in range(20)])
            for p in ("random", "mpe-spread")}
    assert mean["mpe-spread"] > mean["random"] + 5


def test_continuous_actions_play_and_bad_ones_forfeit_with_a_reason(reg):
    game = reg.make_game("mpe/simple_tag:continuous_actions=true")
    assert game.info.continuous(0) and game.info.num_actions == 0
    ok = play_game(game, [reg.make_policy("random"), reg.make_policy("mpe-flee")], seed=1, record_moves=True)
    assert not ok.forfeits and ok.length == 100 and len(ok.moves[0][1]) == 5
    for bad, why in [(lambda: np.zeros(3), "shape"), (lambda: np.full(5, np.nan), "not finite")]:
        result = play_game(game, [BoundPolicy("bad", bad), reg.make_policy("random")], seed=1)
        assert 0 in result.forfeits and why in result.forfeits[0] and result.ranks == (1, 0)


def test_separate_players_on_a_team_are_rated_with_the_team_model(reg, tmp_path):
    game = reg.make_game("mpe/simple_tag")
    players = [BoundPolicy(name, reg.make_policy(spec).obj) for name, spec in
               [("p1", "mpe-chase"), ("p2", "mpe-chase"), ("p3", "random"), ("prey", "mpe-flee")]]
    result = play_game(game, players, seed=5)
    assert result.teams == (0, 0, 0, 1) and len(set(result.ranks[:3])) == 1
    with open_store(tmp_path / "a.db") as store:
        store.record(result)
        rows = dict(store.db.execute("SELECT player, mu FROM ratings").fetchall())
        assert set(rows) == {"p1", "p2", "p3", "prey"}
        assert (rows["p1"] > 25) == (rows["prey"] < 25) == (result.ranks[0] == 0 and result.ranks[3] == 1)
        assert store.rebuild(dry_run=True) == {}


def test_cooperative_games_get_a_return_leaderboard_and_no_rating(reg, tmp_path):
    game = reg.make_game("mpe/simple_spread")
    with open_store(tmp_path / "a.db") as store:
        for s in range(8):
            for p in ("random", "mpe-spread"):
                store.record(play_game(game, [reg.make_policy(p)], seed=s))
        assert store.db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 0
        board = return_board(store)
    assert [r["player"] for r in board] == ["mpe-spread", "random"]
    best = board[0]
    assert best["games"] == 8 and best["return_ci95"][0] < best["mean_return"] < best["return_ci95"][1]


def test_match_and_envs_on_the_command_line(tmp_path):
    arena = [str(Path(sys.executable).with_name("arena"))]
    out = subprocess.run([*arena, "envs", "--json"], capture_output=True, text=True, check=True)
    tag = next(r for r in json.loads(out.stdout) if r["id"] == "mpe/simple_tag_v3")
    assert tag["teams"] == {"adversaries": ["adversary_0", "adversary_1", "adversary_2"], "good": ["agent_0"]}
    db = tmp_path / "a.db"
    out = subprocess.run([*arena, "match", "mpe/simple_spread", "mpe-spread", "--games", "4", "--db", str(db),
                          "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["standings"][0]["return_ci95"][0] is not None
    out = subprocess.run([*arena, "leaderboard", "--db", str(db)], capture_output=True, text=True)
    assert "mean return" in out.stdout and "mpe-spread" in out.stdout
    out = subprocess.run([*arena, "match", "mpe/simple_tag", "random", "random", "random"], capture_output=True,
                         text=True)
    assert out.returncode == 2 and "2 teams" in out.stderr and "Traceback" not in out.stderr


def test_a_stored_team_game_replays_to_its_stored_result(reg, tmp_path):
    from arena.services.replay import replay
    from arena.store import browse

    game = reg.make_game("mpe/simple_tag:continuous_actions=true")
    result = play_game(game, [reg.make_policy("mpe-chase"), reg.make_policy("random")], seed=7, record_moves=True)
    with open_store(tmp_path / "a.db") as store:
        mid = store.record(result).id
        doc = replay(reg, browse.game(store, mid))
    assert [r["return"] for r in doc["result"]] == pytest.approx(list(result.returns))
    assert doc["plies"] == result.length == 100 and doc["moves"][3]["player"] == "random"
