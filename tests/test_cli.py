"""The `arena` command as a user runs it: listings, matches, and one clear line for every user error."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARENA = str(Path(sys.executable).with_name("arena"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARENA, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_listings_as_json_include_the_built_in_games_and_policies():
    envs = {e["id"]: e for e in json.loads(run("envs", "--json").stdout)}
    for wanted in ("pettingzoo/connect_four_v3", "pettingzoo/tictactoe_v3", "pettingzoo/rps_v2",
                   "pettingzoo/leduc_holdem_v4", "pettingzoo/texas_holdem_v4", "pettingzoo/chess_v6",
                   "openspiel/connect_four-v0", "openspiel/tic_tac_toe-v0", "openspiel/kuhn_poker-v0",
                   "openspiel/leduc_poker-v0", "openspiel/liars_dice-v0", "openspiel/goofspiel-v0",
                   "openspiel/markov_soccer-v0", "openspiel/kuhn_poker_3p-v0", "openspiel/*-v0", "gymnasium/*"):
        assert wanted in envs, wanted
    policies = {p["id"]: p for p in json.loads(run("policies", "--json").stdout)}
    assert {"random", "mcts", "alphabeta", "connect_four_heuristic", "constant", "beat-last", "cycle"} <= set(policies)
    assert policies["mcts"]["params"]["simulations"] == 100
    plugins = {p["name"]: p for p in json.loads(run("plugins", "--json").stdout)}
    assert plugins["arena.plugins.mcts"]["registered"] == {"policies": ["mcts"]}
    assert "adapt_env" in plugins["arena.envs.openspiel"]["hooks"]


def test_match_json_reports_standings_with_intervals():
    out = run("match", "openspiel/tic_tac_toe", "alphabeta:depth=9", "random", "--games", "6", "--seed", "5",
              "--json", "--moves")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["env"] == "openspiel/tic_tac_toe-v0" and doc["games_played"] == 6
    solver, rand = doc["standings"]
    assert solver["player"] == "alphabeta:depth=9" and solver["losses"] == 0 and rand["wins"] == 0
    assert solver["seat_counts"] == [3, 3]
    lo, hi = solver["score_ci95"]
    assert lo <= solver["score"] <= hi
    assert all(r["moves"] for r in doc["results"])
    again = json.loads(run("match", "openspiel/tic_tac_toe", "alphabeta:depth=9", "random", "--games", "6",
                           "--seed", "5", "--json", "--moves").stdout)
    timeless = [[{k: v for k, v in r.items() if k != "duration_s"} for r in d["results"]] for d in (doc, again)]
    assert timeless[0] == timeless[1]


def test_match_table_in_a_pipe_is_plain_text():
    out = run("match", "pettingzoo/connect_four_v3", "connect_four_heuristic", "random", "-n", "4", "-s", "1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("# pettingzoo/connect_four_v3: 4 games, seed 1")
    assert lines[1].split("\t")[:5] == ["Player", "Games", "W", "D", "L"]
    assert lines[2].split("\t")[0] == "connect_four_heuristic"


@pytest.mark.parametrize("args,fragment", [
    (["match", "openspiel/conect_four", "random", "random"], "Did you mean 'openspiel/connect_four'"),
    (["match", "openspiel/connect_four", "mtcs", "random"], "Did you mean 'mcts'"),
    (["match", "openspiel/connect_four", "mcts:simulations=lots", "random"], "must be int"),
    (["match", "openspiel/connect_four", "mcts:sims=5", "random"], "has no parameter 'sims'"),
    (["match", "pettingzoo/connect_four_v3", "mcts", "random"], "needs the game's native state"),
    (["match", "pettingzoo/rps_v2", "beat-last", "random", "random"], "has 2 seats"),
    (["match", "openspiel/goofspiel:num_cards=x", "random", "random"], "must be int"),
    (["match", "openspiel/connect_four", "random", "random", "--games", "0"], "--games"),
])
def test_user_errors_give_one_line_and_a_nonzero_exit(args, fragment):
    out = run(*args)
    assert out.returncode == 2
    assert fragment in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert "Traceback" not in out.stderr and len(errors) == 1 and fragment in errors[0]


def test_unknown_command_and_help():
    listing = run("--help")
    assert listing.returncode == 0
    assert all(f"  {name} " in listing.stdout for name in ("match", "leaderboard", "train", "check", "league"))
    out = run("mach")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "No such command 'mach'" in out.stderr and "match" in out.stderr


def test_plugins_add_subcommands_through_register_commands():
    import click
    from click.testing import CliRunner

    from arena import get_plugin_manager, hookimpl
    from arena.cli import build_cli, cli
    from arena.registry import Registry

    class Greeter:
        @hookimpl
        def register_commands(self, cli):
            @cli.command()
            @click.argument("name")
            def greet(name):
                """Say hello."""
                click.echo(f"hello {name}")

    pm = get_plugin_manager(entry_points=False)
    pm.register(Greeter(), name="greeter")
    reg = Registry(pm)
    result = CliRunner().invoke(build_cli(reg), ["greet", "arena"], obj=reg)
    assert result.exit_code == 0 and result.output == "hello arena\n"
    assert "greet" not in cli.commands


def test_an_error_whose_text_spans_lines_is_printed_on_one():
    from click.testing import CliRunner

    from arena import get_plugin_manager, hookimpl
    from arena.cli import build_cli
    from arena.registry import Registry

    def broken():
        raise RuntimeError("first line\nsecond line")

    class Broken:
        @hookimpl
        def register_envs(self, register):
            register("test/broken-v0", broken)

    pm = get_plugin_manager(entry_points=False)
    pm.register(Broken(), name="broken")
    reg = Registry(pm)
    result = CliRunner().invoke(build_cli(reg), ["match", "test/broken", "random", "random"], obj=reg)
    assert result.exit_code == 1  # the plugin failed, not the user
    assert result.stderr.splitlines() == [
        "Error: Env 'test/broken-v0' failed to build: RuntimeError: first line second line"]
