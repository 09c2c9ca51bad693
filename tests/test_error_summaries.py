"""Failed games in summaries and in the store: counted in the match summary, never read as draws."""
from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from arena import get_plugin_manager, hookimpl
from arena.cli import build_cli
from arena.registry import Registry


class Broken:
    """Connect Four whose engine fails on the third move of every game."""

    @hookimpl
    def register_envs(self, register):
        register("test/broken-v0", lambda: self, description="Connect Four that crashes mid-game.")

    @hookimpl
    def adapt_env(self, env, env_id):
        if env is not self:
            return None
        from arena.envs.openspiel import OpenSpielGame, load_game

        game = OpenSpielGame(load_game("connect_four"), env_id)
        real_step, moves = game.step, []

        def step(actions):
            moves.append(actions)
            if len(moves) % 3 == 0:
                raise RuntimeError("engine fault")
            real_step(actions)

        game.step = step
        return game


def run(args: list[str]):
    pm = get_plugin_manager(entry_points=False)
    pm.register(Broken(), name="broken")
    reg = Registry(pm)
    return CliRunner().invoke(build_cli(reg), args, obj=reg)


def test_the_match_summary_counts_every_failed_game_and_lists_the_first_five(tmp_path):
    out = run(["match", "test/broken", "random", "random", "-n", "8", "-s", "1", "--db", str(tmp_path / "a.db")])
    assert out.exit_code == 0, out.output
    listed = [line for line in out.stderr.splitlines() if line.startswith("error: game")]
    assert len(listed) == 5
    assert "8 of 8 games failed" in out.stderr and "all in --json" in out.stderr
    assert "8 games (8 failed)" in out.stdout.splitlines()[0]
    doc = json.loads(run(["match", "test/broken", "random", "random", "-n", "8", "-s", "1", "--json"]).stdout)
    assert doc["games_failed"] == len(doc["errors"]) == 8
    with sqlite3.connect(tmp_path / "a.db") as conn:
        seats = conn.execute("SELECT count(*), count(score), count(rank) FROM participants p "
                             "JOIN matches m ON m.seq = p.match_seq WHERE m.status = 'error'").fetchone()
    assert seats == (16, 0, 0)  # who sat where is kept; no score, so SQL never sees a draw


def test_a_match_without_failures_says_nothing_about_them():
    out = run(["match", "openspiel/tic_tac_toe", "random", "random", "-n", "2", "-s", "1"])
    assert out.exit_code == 0 and "2 games, seed 1" in out.stdout and "failed" not in out.output
