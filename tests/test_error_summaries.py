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


ABORTING = '''
import os, sys
from arena import get_plugin_manager, hookimpl
from arena.cli import build_cli
from arena.registry import Registry


class Aborting:
    """Tic-tac-toe whose engine aborts the whole process (as a crash in native code would) when game 25 starts."""

    @hookimpl
    def register_envs(self, register):
        register("test/aborting-v0", lambda: self, description="aborts the process")

    @hookimpl
    def adapt_env(self, env, env_id):
        if env is not self:
            return None
        from arena.envs.openspiel import OpenSpielGame, load_game

        game = OpenSpielGame(load_game("tic_tac_toe"), env_id)
        real_reset = game.reset

        def reset(seed):
            Aborting.games += 1
            if Aborting.games > 24:
                os.abort()
            real_reset(seed)

        game.reset = reset
        return game


Aborting.games = 0
pm = get_plugin_manager(entry_points=False)
pm.register(Aborting(), name="aborting")
reg = Registry(pm)
build_cli(reg).main(args=sys.argv[1:], obj=reg, prog_name="arena")
'''


def test_a_plugin_that_aborts_the_process_loses_none_of_the_games_played_before(tmp_path):
    """With one worker the games are played in the arena process itself, so an abort ends it; every game that
    finished before is stored (committed one by one), none of the unfinished ones."""
    import subprocess
    import sys

    (tmp_path / "aborting.py").write_text(ABORTING)
    db = tmp_path / "a.db"
    proc = subprocess.run([sys.executable, str(tmp_path / "aborting.py"), "match", "test/aborting", "random",
                           "alphabeta:depth=1", "-n", "100", "-s", "1", "--db", str(db)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode < 0  # killed by SIGABRT
    with sqlite3.connect(db) as conn:
        # games 1-24 (three chunks of 8) finished; game 25 aborted as its chunk started
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM matches WHERE status = 'ok'").fetchone() == (24, 24)
        rated = conn.execute("SELECT sum(games) FROM ratings").fetchone()[0]
    assert rated == 48  # each stored game with its rating update (two seats)
