"""ArenaSingleAgentEnv: one learner seat per episode, opponents inside the env, for RLlib's SingleAgentEnvRunner."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from arena.plugins.rllib_env import SELF, IllegalActionError  # noqa: E402
from arena.plugins.rllib_single_env import ArenaSingleAgentEnv, single_agent_config  # noqa: E402

C4 = "openspiel/connect_four"
C4_CELLS = 6 * 7  # OpenSpiel's Connect Four observation: planes for player 0, player 1, empty


def stones(obs: dict[str, np.ndarray]) -> int:
    return int(obs["observations"][: 2 * C4_CELLS].sum())


def play(env: ArenaSingleAgentEnv, rng: np.random.Generator, check=None):
    """One episode with random legal moves; returns (reset info, final observation, rewards)."""
    obs, info = env.reset()
    rewards = []
    while True:
        if check:
            check(env, obs, info["seat"])
        obs, reward, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        assert not truncated
        rewards.append(reward)
        if terminated:
            return info, obs, rewards


def test_masks_are_the_learners_legal_moves_and_the_rewards_sum_to_its_outcome():
    env = ArenaSingleAgentEnv({"env": C4, "table": {"random": 1.0}, "seed": 5})
    rng = np.random.default_rng(5)

    def check(env, obs, seat):
        game = env.bridge.game
        assert env.observation_space.contains(obs)
        assert list(game.to_move()) == [seat]  # the learner is to move whenever it is asked
        assert np.flatnonzero(obs["action_mask"]).tolist() == sorted(game.legal_actions(seat))
        assert obs["observations"][-2:].tolist() == np.eye(2)[seat].tolist()  # the learner's seat, one-hot

    for _ in range(12):
        info, final, rewards = play(env, rng, check)
        seat = info["seat"]
        assert env.observation_space.contains(final) and not final["action_mask"].any()  # nothing legal at the end
        assert all(r == 0 for r in rewards[:-1]) and rewards[-1] == env.bridge.game.returns()[seat]
        [(opponent, score)] = env.take_outcomes()
        assert opponent == "random" and score == {1.0: 1.0, 0.0: 0.5, -1.0: 0.0}[sum(rewards)]


def test_the_learner_seat_is_drawn_per_episode_and_the_opponent_moves_first_inside_reset():
    env = ArenaSingleAgentEnv({"env": C4, "table": {"connect_four_heuristic": 1.0}, "seed": 1})
    rng = np.random.default_rng(1)
    seats = []
    for _ in range(16):
        obs, info = env.reset()
        assert env.seat == info["seat"] and info["opponent"] == "connect_four_heuristic"
        assert stones(obs) == info["seat"]  # as the second player, the learner sees the heuristic's first stone
        seats.append(info["seat"])
        obs, *_ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        assert stones(obs) == 2 + info["seat"]  # its stone and the heuristic's answer
    assert set(seats) == {0, 1} and 3 <= sum(seats) <= 13
    first = env.reset(seed=42)
    again = env.reset(seed=42)
    assert first[1] == again[1] and np.array_equal(first[0]["observations"], again[0]["observations"])


def test_outcomes_are_recorded_per_opponent_and_a_new_table_applies_from_the_next_episode():
    env = ArenaSingleAgentEnv({"env": C4, "table": {"connect_four_heuristic": 1.0}, "seed": 2})
    rng = np.random.default_rng(2)
    for _ in range(6):
        play(env, rng)
    outcomes = env.take_outcomes()
    assert [o for o, _ in outcomes] == ["connect_four_heuristic"] * 6
    assert sum(score for _, score in outcomes) <= 1.5  # random moves rarely beat the heuristic
    assert env.take_outcomes() == []
    obs, _ = env.reset()
    env.set_table({"random": 1.0})  # mid-episode: this game is still against the heuristic
    while True:
        obs, _, terminated, _, _ = env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        if terminated:
            break
    play(env, rng)
    assert [o for o, _ in env.take_outcomes()] == ["connect_four_heuristic", "random"]
    assert env.table == {"random": 1.0}


def test_an_illegal_action_raises_is_counted_and_changes_nothing():
    env = ArenaSingleAgentEnv({"env": "openspiel/tic_tac_toe", "table": {"random": 1.0}, "seed": 3})
    for _ in range(20):
        obs, info = env.reset()
        if not obs["action_mask"].all():  # the learner moves second: the opponent's square is taken
            break
    assert info["seat"] == 1
    legal_before = list(env.bridge.game.legal_actions(1))
    with pytest.raises(IllegalActionError):
        env.step(int(np.flatnonzero(obs["action_mask"] == 0)[0]))
    assert env.illegal_actions == 1 and list(env.bridge.game.legal_actions(1)) == legal_before
    env.step(legal_before[0])  # the game goes on from where it was
    assert env.illegal_actions == 1


def test_self_play_is_refused_with_a_clear_error():
    from arena.plugins.rllib_algorithms import TrainSpec

    for table in ({SELF: 1.0}, {"random": 1.0, SELF: 0.5}):
        with pytest.raises(ValueError, match="self-play"):
            ArenaSingleAgentEnv({"env": C4, "table": table})
        with pytest.raises(ValueError, match="self-play"):
            single_agent_config(TrainSpec(env=C4, table=table))
    env = ArenaSingleAgentEnv({"env": C4})  # no table: random
    assert env.table == {"random": 1.0}
    with pytest.raises(ValueError, match="self-play"):
        env.set_table({SELF: 1.0, "random": 1.0})
    assert env.table == {"random": 1.0}
    env.reset()
    assert env.opponent == "random"


def test_rllib_samples_and_trains_it_with_its_single_agent_env_runner():
    import ray
    from ray.rllib.core import DEFAULT_MODULE_ID
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from arena.plugins.rllib_algorithms import Resources, TrainSpec
    from arena.plugins.rllib_modules import MaskedPPOTorchRLModule

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        spec = TrainSpec(env="openspiel/tic_tac_toe", table={"random": 1.0}, hidden=(16,),
                         hyperparameters={"train_batch_size_per_learner": 128, "minibatch_size": 64, "num_epochs": 1},
                         resources=Resources(num_env_runners=0, num_envs_per_env_runner=4))
        algo = single_agent_config(spec).build_algo()
        runner = algo.env_runner_group.local_env_runner
        assert isinstance(runner, SingleAgentEnvRunner) and runner.num_envs == 4
        assert isinstance(algo.get_module(DEFAULT_MODULE_ID), MaskedPPOTorchRLModule)
        sampled = sum(int(algo.train()["env_runners"]["num_env_steps_sampled"]) for _ in range(2))
        assert sampled >= 2 * 128
        # gymnasium's vector env reaches every sub-env with call(), in-process (sync) or not (async)
        per_runner = algo.env_runner_group.foreach_env_runner(
            lambda r: (r.env.unwrapped.call("take_outcomes"), r.env.unwrapped.get_attr("illegal_actions")),
            local_env_runner=True)
        [(outcomes, illegal)] = per_runner
        finished = [o for per_env in outcomes for o in per_env]
        assert len(outcomes) == 4 and len(finished) >= 40  # tic-tac-toe: at most 5 learner moves a game
        assert {o for o, _ in finished} == {"random"} and list(illegal) == [0, 0, 0, 0]
        algo.stop()
    finally:
        ray.shutdown()
