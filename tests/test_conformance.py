"""Conformance: every registered env and policy, collected from a fresh registry at collection time, run through
the checks that ship in `arena.testing` (what `arena check` runs on a third-party game or policy):

- every env plays random games to the end through its adapter, with legal moves, consistent masks and ranks;
- PettingZoo's own API tests pass on the raw env of every PettingZoo registration;
- every policy plays only legal moves on every env it supports, and says why in one line where it does not;
- the same seed gives the same game; another seed gives another game.
"""
from __future__ import annotations

import pytest

from arena import testing
from arena.errors import ArenaError, ParameterError, UnknownIdError
from arena.plugin_manager import get_plugin_manager
from arena.registry import Registry
from arena.testing import assert_passes

def _puct_snapshot() -> str:
    """A Connect Four snapshot with a value head (random weights) for `puct`, which needs one to play at all."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    torch = pytest.importorskip("torch")
    from arena.plugins import snapshot

    info = Registry(get_plugin_manager()).make_game("openspiel/connect_four").info
    meta = {"env": info.env_id, "algo": "test", "obs_dim": snapshot.feature_dim(info), "num_actions": info.num_actions,
            "hidden": [16], "activation": "tanh", "features": snapshot.FEATURES,
            "value": {"hidden": [16], "activation": "tanh", "gamma": 1.0}}
    torch.manual_seed(0)
    root = tempfile.mkdtemp(prefix="arena-conformance-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    folder = Path(root) / "c4"
    snapshot.save(folder, snapshot.build_net(meta).state_dict(), meta,
                  snapshot.build_net({**meta, **meta["value"]}, outputs=1).state_dict())
    return str(folder)


# Small search budgets so the env x policy matrix stays quick; other policies are used with their defaults.
SMALL_BUDGET = {"mcts": "mcts:simulations=10", "alphabeta": "alphabeta:depth=2",
                "puct": f"puct:snapshot={_puct_snapshot()},simulations=10"}


def _collect() -> tuple[list[str], list[str], list[str], list[str]]:
    reg = Registry(get_plugin_manager())
    all_envs = reg.ids("env")
    envs = [e for e in all_envs if "*" not in e]  # `ns/*` (or `ns/*-vN`) fallbacks are patterns, not games
    fallbacks = [e for e in all_envs if "*" in e]
    pettingzoo = []
    for env_id in envs:
        try:
            raw = testing.raw_env(reg, env_id)
        except Exception:  # a broken factory fails test_random_games_reach_the_end instead
            continue
        if testing.is_pettingzoo(raw):
            pettingzoo.append(env_id)
        if hasattr(raw, "close"):
            raw.close()
    policies = [p for p in reg.ids("policy") if "*" not in p]  # `ns/*` policies are patterns (snapshot/*)
    return envs, fallbacks, pettingzoo, policies


ENV_IDS, FALLBACK_IDS, PETTINGZOO_IDS, POLICY_IDS = _collect()


@pytest.fixture
def reg() -> Registry:
    return Registry(get_plugin_manager())


def spec_of(policy_id: str) -> str:
    return SMALL_BUDGET.get(policy_id, policy_id)


def test_registry_is_not_empty():
    assert ENV_IDS and POLICY_IDS and "random" in POLICY_IDS
    assert PETTINGZOO_IDS, "no PettingZoo env registered: the api_test conformance below checks nothing"


# ---------------------------------------------------------------------------------------------------------------
# Every env plays to the end
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_random_games_reach_the_end(reg, env_id):
    assert_passes(testing.check_random_games(reg, env_id, games=2, seed=0))


# ---------------------------------------------------------------------------------------------------------------
# PettingZoo's own API tests on the raw envs
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", PETTINGZOO_IDS)
def test_pettingzoo_api_test(reg, env_id):
    assert_passes(testing.check_pettingzoo_api(reg, env_id, num_cycles=10))


# ---------------------------------------------------------------------------------------------------------------
# Every policy on every env it supports
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("policy_id", POLICY_IDS)
def test_policy_plays_legal_moves_or_declines(reg, policy_id, env_id):
    assert_passes(testing.check_policy(reg, env_id, spec_of(policy_id), games=1, seed=0))


@pytest.mark.parametrize("policy_id", POLICY_IDS)
def test_every_policy_supports_some_registered_env(reg, policy_id):
    assert_passes(testing.check_policy_support(reg, spec_of(policy_id), ENV_IDS))


# ---------------------------------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_game_other_seed_other_game(reg, env_id):
    assert_passes(testing.check_seeds(reg, env_id, seed=7))


# ---------------------------------------------------------------------------------------------------------------
# Namespace fallbacks
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, env_id, seats", [
    ("openspiel/breakthrough", "openspiel/breakthrough-v0", 2),
    ("openspiel/breakthrough:rows=6,columns=5", "openspiel/breakthrough-v0:columns=5,rows=6", 2),
    ("openspiel/oware", "openspiel/oware-v0", 2),
    ("openspiel/goofspiel:num_cards=4,players=3", "openspiel/goofspiel-v0:num_cards=4,players=3", 3),
])
def test_openspiel_game_by_name_with_parameters(reg, spec, env_id, seats):
    game = reg.make_game(spec)
    assert game.info.env_id == env_id
    assert game.info.num_seats == seats
    assert game.info.backend == "openspiel"
    assert_passes(testing.check_random_games(reg, spec, games=2, seed=0))


def test_openspiel_goofspiel_parameters_reach_the_game(reg):
    game = reg.make_game("openspiel/goofspiel:num_cards=4,players=3")
    assert game.info.num_actions == 4 and game.info.simultaneous
    assert game.info.native_game.get_parameters()["num_cards"] == 4


def test_unregistered_openspiel_game_plays_with_search_policy(reg):
    game = reg.make_game("openspiel/breakthrough:rows=6,columns=5")
    assert reg.resolve("env", "openspiel/breakthrough").plugin == "arena.envs.openspiel"
    mcts = reg.make_policy("mcts:simulations=10")
    mcts.check(game.info)
    result, failures = testing.play_checked(game, [mcts, reg.make_policy("random")], 3)
    assert_passes(failures)
    assert result.players == ("mcts:simulations=10", "random")


@pytest.mark.parametrize("spec, error, needle", [
    ("openspiel/no_such_game", UnknownIdError, "arena envs"),
    ("openspiel/breakthrough:nope=1", ParameterError, "nope"),
    ("openspiel/breakthrough:rows=x", ParameterError, "rows"),
])
def test_bad_openspiel_name_or_parameter_is_one_line(reg, spec, error, needle):
    with pytest.raises(error) as e:
        reg.make_game(spec)
    assert "\n" not in str(e.value) and needle in str(e.value)


@pytest.mark.parametrize("fallback_id", FALLBACK_IDS)
def test_fallback_id_itself_is_not_a_game(reg, fallback_id):
    with pytest.raises(ArenaError) as e:
        reg.make_game(fallback_id)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("spec", ["gymnasium/Acrobot-v1", "gymnasium/MountainCar-v0"])
def test_gymnasium_fallback_builds_installed_env(reg, spec):
    # Regression: the `gymnasium/*` fallback once dropped the version and could build no versioned Gymnasium id.
    assert reg.resolve("env", spec).plugin == "arena.envs.gymnasium"
    game = reg.make_game(spec)
    assert game.info.env_id == spec and game.info.num_seats == 1 and game.info.backend == "gymnasium"
    assert_passes(testing.check_random_games(reg, spec, games=1, seed=0))
