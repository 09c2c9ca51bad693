"""Conformance: every registered env and policy, collected from a fresh registry at collection time.

- every env plays random games to the end through its adapter, with legal moves, consistent masks and ranks;
- PettingZoo's own API tests pass on the raw env of every PettingZoo registration;
- every policy plays only legal moves on every env it supports, and says why in one line where it does not;
- the same seed gives the same game; another seed gives another game.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from arena.errors import ArenaError, IncompatiblePolicyError, ParameterError, UnknownIdError
from arena.match import play_game, play_match
from arena.plugin_manager import get_plugin_manager
from arena.registry import Registry

# Small search budgets so the env x policy matrix stays quick; other policies are used with their defaults.
SMALL_BUDGET = {"mcts": "mcts:simulations=10", "alphabeta": "alphabeta:depth=2"}


def _collect() -> tuple[list[str], list[str], list[str], list[str]]:
    reg = Registry(get_plugin_manager())
    all_envs = reg.ids("env")
    envs = [e for e in all_envs if "*" not in e]  # `ns/*` (or `ns/*-vN`) fallbacks are patterns, not games
    fallbacks = [e for e in all_envs if "*" in e]
    pettingzoo = []
    from pettingzoo.utils.env import AECEnv, ParallelEnv

    for env_id in envs:
        try:
            raw = _raw_env(reg, env_id)
        except Exception:  # a broken factory fails test_random_games_reach_the_end instead
            continue
        if isinstance(raw, (AECEnv, ParallelEnv)):
            pettingzoo.append(env_id)
        if hasattr(raw, "close"):
            raw.close()
    policies = [p for p in reg.ids("policy") if "*" not in p]  # `ns/*` policies are patterns (snapshot/*)
    return envs, fallbacks, pettingzoo, policies


def _raw_env(reg: Registry, env_id: str):
    """The ecosystem env exactly as the registration's factory builds it, before Arena adapts it."""
    registration = reg.resolve("env", env_id)
    return registration.load()(**registration.params)


ENV_IDS, FALLBACK_IDS, PETTINGZOO_IDS, POLICY_IDS = _collect()


@pytest.fixture
def reg() -> Registry:
    return Registry(get_plugin_manager())


def spec_of(policy_id: str) -> str:
    return SMALL_BUDGET.get(policy_id, policy_id)


class CheckedGame:
    """A Game that asserts, at every step, what the runner's forfeit check would otherwise be trusted for:
    actions come exactly from the seats to move, each is legal, and the mask agrees with legal_actions."""

    def __init__(self, game):
        self._game = game
        self.info = game.info
        self.steps = 0

    def __getattr__(self, name):
        return getattr(self._game, name)

    def to_move(self):
        movers = list(self._game.to_move())
        over = self._game.is_over()
        assert bool(movers) != over, f"to_move() is {movers} but is_over() is {over}: () exactly when over"
        assert len(set(movers)) == len(movers) and all(0 <= s < self.info.num_seats for s in movers), movers
        if not self.info.simultaneous:
            assert len(movers) <= 1, f"{len(movers)} seats to move in a turn-based game"
        return movers

    def step(self, actions):
        game, info = self._game, self.info
        assert not game.is_over(), "step() on a finished game"
        movers = list(game.to_move())
        assert movers, "no seat to move in a game that is not over"
        assert sorted(actions) == sorted(movers), f"actions for seats {sorted(actions)}, to move {movers}"
        for seat, action in actions.items():
            assert 0 <= seat < info.num_seats
            legal = [int(a) for a in game.legal_actions(seat)]
            assert legal, f"seat {seat} must move but has no legal action"
            assert action in legal, f"illegal action {action} for seat {seat}; legal: {legal}"
            mask = np.asarray(game.action_mask(seat))
            assert mask.shape == (info.num_actions,), f"mask shape {mask.shape}, num_actions {info.num_actions}"
            assert sorted(np.flatnonzero(mask).tolist()) == sorted(legal), "action_mask disagrees with legal_actions"
            obs = game.observation(seat)
            if info.observation_space is not None:
                assert info.observation_space.contains(obs), f"observation of seat {seat} outside observation_space"
        game.step(actions)
        self.steps += 1


def assert_ranks_match_returns(result) -> None:
    returns, ranks = result.returns, result.ranks
    assert len(ranks) == len(returns)
    assert min(ranks) == 0
    for a in range(len(returns)):
        for b in range(len(returns)):
            if returns[a] > returns[b]:
                assert ranks[a] < ranks[b], (returns, ranks)
            elif returns[a] == returns[b]:
                assert ranks[a] == ranks[b], (returns, ranks)


def assert_finished_cleanly(game: CheckedGame, result) -> None:
    n = game.info.num_seats
    assert game.is_over()
    assert result.forfeits == {}, result.forfeits
    assert len(result.returns) == n == len(result.players)
    assert all(isinstance(r, float) and math.isfinite(r) for r in result.returns), result.returns
    assert tuple(game.returns()) == tuple(result.returns)
    assert_ranks_match_returns(result)
    assert result.length > 0
    if result.moves is not None:
        assert result.length == len(result.moves)
        assert all(0 <= seat < n for seat, _ in result.moves)


def test_registry_is_not_empty():
    assert ENV_IDS and POLICY_IDS and "random" in POLICY_IDS
    assert PETTINGZOO_IDS, "no PettingZoo env registered: the api_test conformance below checks nothing"


# ---------------------------------------------------------------------------------------------------------------
# Every env plays to the end
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_random_games_reach_the_end(reg, env_id):
    game = reg.make_game(env_id)
    info = game.info
    assert info.num_seats >= 1 and len(info.seat_names) == info.num_seats
    assert len(set(info.seat_names)) == info.num_seats
    assert info.num_actions >= 1
    assert info.env_id == reg.resolve("env", env_id).id
    checked = CheckedGame(game)
    for seed in (0, 1):
        result = play_game(checked, [reg.make_policy("random") for _ in range(info.num_seats)], seed,
                           record_moves=True)
        assert_finished_cleanly(checked, result)
        assert result.players == ("random",) * info.num_seats
    assert checked.steps > 0
    game.close()


# ---------------------------------------------------------------------------------------------------------------
# PettingZoo's own API tests on the raw envs
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Observation numpy array is all zeros:UserWarning")  # empty boards, by design
@pytest.mark.parametrize("env_id", PETTINGZOO_IDS)
def test_pettingzoo_api_test(reg, env_id):
    from pettingzoo.test import api_test, parallel_api_test
    from pettingzoo.utils.env import AECEnv

    env = _raw_env(reg, env_id)
    if isinstance(env, AECEnv):
        api_test(env, num_cycles=10)
    else:
        parallel_api_test(env, num_cycles=10)


# ---------------------------------------------------------------------------------------------------------------
# Every policy on every env it supports
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("policy_id", POLICY_IDS)
def test_policy_plays_legal_moves_or_declines(reg, policy_id, env_id):
    game = reg.make_game(env_id)
    info = game.info
    policy = reg.make_policy(spec_of(policy_id))
    try:
        policy.check(info)
    except IncompatiblePolicyError as e:
        message = str(e)
        assert message.strip() and "\n" not in message, repr(message)
        assert info.env_id in message, message
        with pytest.raises(IncompatiblePolicyError):  # the match runner refuses before playing
            list(play_match(game, [policy] + [reg.make_policy("random")] * (info.num_seats - 1), 1, 0))
        return
    checked = CheckedGame(game)
    first = None
    for seat in range(info.num_seats):
        seated = [reg.make_policy("random") for _ in range(info.num_seats)]
        seated[seat] = policy
        result = play_game(checked, seated, seed=seat, record_moves=True)
        assert_finished_cleanly(checked, result)
        assert any(s == seat for s, _ in result.moves), f"{policy_id} never moved in seat {seat}"
        if first is None:
            first = result
    # A policy is reproducible from the game seed: a fresh instance in seat 0 replays the same game.
    seated = [reg.make_policy(spec_of(policy_id))] + [reg.make_policy("random") for _ in range(info.num_seats - 1)]
    again = play_game(checked, seated, seed=0, record_moves=True)
    assert (again.moves, again.returns) == (first.moves, first.returns)


@pytest.mark.parametrize("policy_id", POLICY_IDS)
def test_every_policy_supports_some_registered_env(reg, policy_id):
    policy = reg.make_policy(spec_of(policy_id))
    supported = []
    for env_id in ENV_IDS:
        try:
            policy.check(reg.make_game(env_id).info)
        except IncompatiblePolicyError:
            continue
        supported.append(env_id)
    assert supported, f"{policy_id} declines every registered env, so the matrix above never plays it"


# ---------------------------------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_game_other_seed_other_game(reg, env_id):
    game = reg.make_game(env_id)
    n = game.info.num_seats

    def play(g, seed):
        r = play_game(g, [reg.make_policy("random") for _ in range(n)], seed, record_moves=True)
        return r.moves, r.returns, r.ranks, r.length

    first = play(game, 7)
    play(game, 8)  # whatever a game leaves behind, reset() must clear
    assert play(game, 7) == first, "replaying seed 7 on the same game object gave another game"
    assert play(reg.make_game(env_id), 7) == first, "seed 7 on a freshly built game gave another game"
    others = [play(game, seed) for seed in (11, 12, 13, 14, 15)]
    assert any(o != first for o in others), "five other seeds all gave exactly the game of seed 7"


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
    checked = CheckedGame(game)
    for seed in (0, 1):
        result = play_game(checked, [reg.make_policy("random") for _ in range(seats)], seed, record_moves=True)
        assert_finished_cleanly(checked, result)


def test_openspiel_goofspiel_parameters_reach_the_game(reg):
    game = reg.make_game("openspiel/goofspiel:num_cards=4,players=3")
    assert game.info.num_actions == 4 and game.info.simultaneous
    assert game.info.native_game.get_parameters()["num_cards"] == 4


def test_unregistered_openspiel_game_plays_with_search_policy(reg):
    game = reg.make_game("openspiel/breakthrough:rows=6,columns=5")
    assert reg.resolve("env", "openspiel/breakthrough").plugin == "arena.envs.openspiel"
    mcts = reg.make_policy("mcts:simulations=10")
    mcts.check(game.info)
    checked = CheckedGame(game)
    result = play_game(checked, [mcts, reg.make_policy("random")], 3, record_moves=True)
    assert_finished_cleanly(checked, result)


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
    checked = CheckedGame(game)
    result = play_game(checked, [reg.make_policy("random")], 0, record_moves=True)
    assert_finished_cleanly(checked, result)
