"""Registry behaviour: who registered what, duplicates, unknown ids, versions, parameters."""
from __future__ import annotations

import pytest

from arena import get_plugin_manager, hookimpl
from arena.errors import DuplicateIdError, ParameterError, PluginError, UnknownIdError
from arena.registry import Registry, format_spec, parse_spec, split_version


def registry_with(*plugins: object) -> Registry:
    pm = get_plugin_manager(entry_points=False)
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"test_plugin_{i}")
    return Registry(pm)


class DuplicateRandom:
    @hookimpl
    def register_policies(self, register):
        register("random", lambda observation, action_mask: 0)


class Versions:
    @hookimpl
    def register_envs(self, register):
        register("demo/game-v1", "pyspiel:load_game", params={"game_string": "tic_tac_toe"})
        register("demo/game-v3", "pyspiel:load_game", params={"game_string": "connect_four"})


def test_each_id_records_its_plugin():
    reg = Registry(get_plugin_manager(entry_points=False))
    assert reg.resolve("policy", "mcts").plugin == "arena.plugins.mcts"
    assert reg.resolve("env", "pettingzoo/connect_four_v3").plugin == "arena.envs.pettingzoo"


def test_duplicate_id_names_both_plugins():
    reg = registry_with(DuplicateRandom())
    with pytest.raises(DuplicateIdError) as err:
        reg.entries("policy")
    assert "arena.plugins.random_policy" in str(err.value) and "test_plugin_0" in str(err.value)


def test_unknown_id_suggests_near_matches_and_the_listing_command():
    reg = Registry(get_plugin_manager(entry_points=False))
    with pytest.raises(UnknownIdError) as err:
        reg.resolve("policy", "mtcs")
    assert "'mcts'" in str(err.value) and "arena policies" in str(err.value)
    with pytest.raises(UnknownIdError) as err:
        reg.resolve("env", "pettingzoo/conect_four_v3")
    assert "pettingzoo/connect_four_v3" in str(err.value) and "arena envs" in str(err.value)


def test_unversioned_id_resolves_to_latest_version():
    reg = registry_with(Versions())
    assert reg.resolve("env", "demo/game").id == "demo/game-v3"
    assert reg.resolve("env", "demo/game-v1").id == "demo/game-v1"
    assert reg.resolve("env", "pettingzoo/tictactoe").id == "pettingzoo/tictactoe_v3"
    with pytest.raises(UnknownIdError):
        reg.resolve("env", "demo/game-v2")


def test_namespace_fallback_builds_any_openspiel_game_with_parameters():
    reg = Registry(get_plugin_manager(entry_points=False))
    game = reg.make_game("openspiel/goofspiel:num_cards=4,players=3")
    assert game.info.num_seats == 3 and game.info.num_actions == 4 and game.info.simultaneous
    assert reg.make_game("openspiel/breakthrough").info.env_id == "openspiel/breakthrough-v0"
    with pytest.raises(UnknownIdError, match="openspiel/nosuchgame"):
        reg.make_game("openspiel/nosuchgame")
    with pytest.raises(ParameterError, match="num_cards"):
        reg.make_game("openspiel/goofspiel:num_card=4")
    with pytest.raises(ParameterError, match="must be int"):
        reg.make_game("openspiel/goofspiel:num_cards=many")


def test_spec_strings_round_trip():
    assert parse_spec("mcts:simulations=400,uct_c=1.5,solve=false,name=x") == (
        "mcts", {"simulations": 400, "uct_c": 1.5, "solve": False, "name": "x"})
    assert format_spec("mcts", {"uct_c": 1.5, "simulations": 400}) == "mcts:simulations=400,uct_c=1.5"
    assert split_version("pettingzoo/rps_v2") == ("pettingzoo/rps", 2)
    assert split_version("openspiel/connect_four-v0") == ("openspiel/connect_four", 0)
    with pytest.raises(ParameterError):
        parse_spec("mcts:simulations")


def test_player_id_drops_default_parameters_and_checks_types():
    reg = Registry(get_plugin_manager(entry_points=False))
    assert reg.player_id("mcts:simulations=100") == "mcts"
    assert reg.player_id("mcts:uct_c=1,simulations=50") == "mcts:simulations=50,uct_c=1.0"
    with pytest.raises(ParameterError, match="takes: rollouts, simulations, solve, uct_c"):
        reg.make_policy("mcts:sims=5")
    with pytest.raises(ParameterError, match="must be int"):
        reg.make_policy("mcts:simulations=2.5")
    with pytest.raises(ParameterError, match="at least 1"):
        reg.make_policy("mcts:simulations=0")


def test_plugin_that_fails_while_registering_is_named():
    class Broken:
        @hookimpl
        def register_envs(self, register):
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match="test_plugin_0.*boom"):
        registry_with(Broken()).entries("env")


def test_blocked_builtin_plugin_is_not_loaded(monkeypatch):
    monkeypatch.setenv("ARENA_BLOCK_PLUGINS", "arena.plugins.mcts")
    reg = Registry(get_plugin_manager(entry_points=False))
    assert "mcts" not in reg.ids("policy") and "random" in reg.ids("policy")


def test_each_plugin_manager_is_fresh():
    a, b = get_plugin_manager(entry_points=False), get_plugin_manager(entry_points=False)
    a.register(DuplicateRandom(), name="only_in_a")
    assert a.get_plugin("only_in_a") is not None and b.get_plugin("only_in_a") is None
