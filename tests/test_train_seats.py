"""`arena train` on any number of seats: one-seat Gymnasium envs (scored by mean return, stopped by --stop-return,
truncated episodes bootstrapped) and three-seat games (the opponent fills every other seat)."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from arena.plugins.rllib_env import SELF, ArenaMultiAgentEnv  # noqa: E402
from arena.plugins.rllib_single_env import ArenaSingleAgentEnv  # noqa: E402

ARENA = str(Path(sys.executable).with_name("arena"))


def test_a_one_seat_env_gives_the_gymnasium_rewards_and_marks_a_time_limit_as_truncated():
    env = ArenaSingleAgentEnv({"env": "gymnasium/Taxi-v3", "table": {SELF: 1.0}, "seed": 0})
    rng = np.random.default_rng(0)
    obs, info = env.reset()
    assert info["seat"] == 0 and obs["observations"].shape == (500,)  # Discrete(500), one-hot
    assert obs["observations"].sum() == 1.0
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            break
    # random (legal: Taxi masks moves into walls) moves almost never deliver the passenger: Taxi cuts the episode at 200 steps, which is no outcome
    assert steps == 200 and truncated and not terminated
    assert env.take_returns() == [pytest.approx(total)] and env.take_outcomes() == []
    assert env.bridge.game.returns() == (pytest.approx(total),)


def test_a_one_seat_env_that_ends_by_itself_is_terminated():
    env = ArenaMultiAgentEnv({"env": "gymnasium/CartPole-v1", "table": {SELF: 1.0}, "seed": 1})
    env.reset()
    for steps in range(1, 501):
        _, rewards, terminated, truncated, _ = env.step({"main:0": 0})  # always left: the pole falls quickly
        if terminated["__all__"] or truncated["__all__"]:
            break
    assert terminated["__all__"] and not truncated["__all__"] and steps < 50
    assert env.take_returns() == [float(steps)]


def _run(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([ARENA, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_arena_train_on_a_one_seat_env_scores_by_mean_return_on_the_return_leaderboard(tmp_path):
    env = {**os.environ, "ARENA_SNAPSHOTS": str(tmp_path / "snaps")}
    db = str(tmp_path / "t.db")
    out = _run("train", "gymnasium/CartPole-v1", "--stop-iterations", "2", "--hidden", "16", "--eval-games", "5",
               "--hp", "train_batch_size_per_learner=256", "--hp", "minibatch_size=64", "--hp", "num_epochs=1",
               "--num-envs-per-env-runner", "4", "--name", "cp", "--db", db, "--json", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert doc["final"] == "snapshot/cp-it2" and "alone (one side)" in out.stderr
    assert "return" in out.stderr.split("iter    2")[1].splitlines()[0]  # the rolling mean return, per iteration
    mean, (lo, hi) = doc["scores"]["return"], doc["return_ci95"]
    assert 8 <= mean <= 500 and lo <= mean <= hi  # CartPole pays 1 a step, and any policy lasts 8 steps
    board = json.loads(_run("leaderboard", "--json", "--db", db, env=env).stdout)
    (row,) = [r for r in board if r["player"] == "snapshot/cp-it2"]
    assert row["scored_by"] == "return" and row["games"] == 5 and row["mean_return"] == pytest.approx(mean)
    assert not [r for r in board if r.get("scored_by") != "return"]  # no TrueSkill rating for a one-seat game
    with sqlite3.connect(db) as conn:
        seats = conn.execute("SELECT COUNT(*) FROM participants p JOIN matches m ON m.seq = p.match_seq "
                             "WHERE p.player = 'snapshot/cp-it2'").fetchone()[0]
    assert seats == 5


def test_arena_train_on_three_seats_fills_the_other_seats_with_the_opponent(tmp_path):
    env = {**os.environ, "ARENA_SNAPSHOTS": str(tmp_path / "snaps")}
    db = str(tmp_path / "t.db")
    out = _run("train", "openspiel/kuhn_poker_3p", "--stop-iterations", "1", "--hidden", "16", "--eval-games", "6",
               "--hp", "train_batch_size_per_learner=128", "--hp", "minibatch_size=64", "--hp", "num_epochs=1",
               "--num-envs-per-env-runner", "4", "--name", "k3", "--db", db, "--json", env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert 0 <= doc["scores"]["random"] <= 1 and "random" in out.stderr.split("iter    1")[1].splitlines()[0]
    with sqlite3.connect(db) as conn:
        games = conn.execute("SELECT m.seq, GROUP_CONCAT(p.player) FROM matches m JOIN participants p ON "
                             "p.match_seq = m.seq GROUP BY m.seq").fetchall()
    assert len(games) == 6 and all(sorted(g.split(",")) == ["random", "random", "snapshot/k3-it1"] for _, g in games)


@pytest.mark.parametrize("args,fragment", [
    (["gymnasium/Taxi-v3", "--opponents", "random"], "has one seat: the learner plays alone"),
    (["gymnasium/Taxi-v3", "--stop-win-rate", "0.5"], "--stop-return R"),
    (["openspiel/connect_four", "--stop-return", "3"], "--stop-return is for games with one side"),
    (["mpe/simple_spread", "--opponents", "random"], "has one side (a cooperative team)"),
    (["mpe/simple_tag", "--hp", "team=prey"], "has no team 'prey'; its teams: adversaries, good"),
    (["mpe/simple_tag", "--hp", "team=good", "--opponents", "self"], "cannot play itself"),
])
def test_arena_train_refuses_options_that_do_not_fit_the_seats_before_ray_starts(args, fragment):
    out = _run("train", *args, timeout=120)
    assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr
    assert "Started a local Ray" not in out.stderr
