"""The learner's single-agent view of an Arena game, for RLlib's SingleAgentEnvRunner over gymnasium vector envs.

When every opponent plays inside the env, the learner holds one seat per episode and sees a plain single-agent
problem, so RLlib can sample it with its SingleAgentEnvRunner (one `gym.vector.SyncVectorEnv` of
`num_envs_per_env_runner` envs) instead of the MultiAgentEnvRunner, whose per-agent episode bookkeeping dominates
sampling on small board games (benchmarks/sampling_throughput.py measures both).

`ArenaSingleAgentEnv` wraps an `ArenaMultiAgentEnv` (same env_config, same matchmaking table, same opponents
played inside `step`, same masked Dict observations) and unwraps its one learner agent per episode. The learner's
seat is drawn per episode; the reward is the change of its return, so the episode's rewards sum to the final
outcome. Self-play (SELF) needs several learner seats in one episode and is refused: train it with the multi-agent
env. In a one-seat game (a Gymnasium env) there is no opponent: the table is {SELF: 1} (the learner plays every
seat, i.e. the one), and the episode's rewards are the env's own. When an episode ends, the observation returned is
the learner's view of the final position with an all-zero action mask (no move is legal); RLlib bootstraps from it
only when the episode was truncated (a Gymnasium time limit), and gymnasium's vector env resets the env on the next
step and ignores the action sampled for it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from .rllib_env import SELF, ArenaMultiAgentEnv

DEFAULT_TABLE = {"random": 1.0}
MAX_EMPTY_RESETS = 100  # games in a row that end before the learner's first move; more means a broken table


def refuse_self_play(table: Mapping[str, float], num_seats: int = 2) -> None:
    """Self-play needs several learner seats in one episode, unless the game has only one seat."""
    if SELF in table and num_seats > 1:
        raise ValueError(f"ArenaSingleAgentEnv plays one learner seat against opponents inside the env; the table "
                         f"{dict(table)} asks for self-play ({SELF!r}), which needs ArenaMultiAgentEnv")


class ArenaSingleAgentEnv(gym.Env):
    """An Arena game as a gymnasium Env for one learner seat. env_config: as `ArenaMultiAgentEnv`'s ("env",
    "module", "table", "seed", "blocked", "max_loaded_opponents"); the table must not contain SELF (unless the game
    has one seat) and defaults to random."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: Mapping[str, Any] | None = None):
        config = dict(config or {})
        config["table"] = dict(config.get("table") or DEFAULT_TABLE)
        self.bridge = ArenaMultiAgentEnv(config)
        refuse_self_play(config["table"], self.bridge.num_seats)
        some_agent = self.bridge.possible_agents[0]  # every seat has the same spaces
        self.observation_space = self.bridge.observation_spaces[some_agent]
        self.action_space = self.bridge.action_spaces[some_agent]
        self.agent: str | None = None  # the learner's agent id in the bridge this episode ("main:SEAT")
        self.seat: int | None = None

    # -- what Arena's session calls on every env ---------------------------------------------------
    def set_table(self, table: Mapping[str, float]) -> None:
        """Who the learner meets, with weights (no SELF, unless the game has one seat). Takes effect at the next
        episode."""
        refuse_self_play(table, self.bridge.num_seats)
        self.bridge.set_table(table)

    def take_outcomes(self) -> list[tuple[str, float]]:
        """Finished episodes since the last call: (opponent, the learner's score 1/0.5/0)."""
        return self.bridge.take_outcomes()

    def take_returns(self) -> list[float]:
        """One-seat games: the learner's return in each episode finished since the last call."""
        return self.bridge.take_returns()

    @property
    def table(self) -> dict[str, float]:
        return self.bridge.table

    @property
    def illegal_actions(self) -> int:
        return self.bridge.illegal_actions

    @property
    def opponent(self) -> str:
        return self.bridge.opponent

    # -- gymnasium.Env -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        observations, _ = self.bridge.reset(seed=seed)
        for _ in range(MAX_EMPTY_RESETS):
            if observations:
                break
            self.bridge._finish()  # over before the learner moved: the outcome still counts, the episode cannot
            observations, _ = self.bridge.reset()
        else:
            raise RuntimeError(f"{MAX_EMPTY_RESETS} games in a row ended before the learner's first move")
        ((self.agent, observation),) = observations.items()
        self.seat = int(self.agent.rpartition(":")[2])
        return observation, {"seat": self.seat, "opponent": self.bridge.opponent}

    def step(self, action: Any):
        observations, rewards, terminateds, truncateds, _ = self.bridge.step({self.agent: int(action)})
        terminated, truncated = bool(terminateds["__all__"]), bool(truncateds["__all__"])
        observation = self.bridge.final_observation(self.seat) if terminated or truncated \
            else observations[self.agent]
        return observation, float(rewards.get(self.agent, 0.0)), terminated, truncated, {}

    def close(self) -> None:
        self.bridge.game.close()


def single_agent_config(spec: Any) -> Any:
    """Arena's PPO config for a TrainSpec (`rllib_algorithms._config`: hyperparameters, resources, masked module,
    fault tolerance, seed), switched to the single-agent path: ArenaSingleAgentEnv, RLlib's default module id, and
    so its SingleAgentEnvRunner over one gymnasium SyncVectorEnv per EnvRunner."""
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
    from ray.rllib.core import DEFAULT_MODULE_ID

    from .rllib_algorithms import _config, game_info

    if spec.algo != "ppo":
        raise ValueError(f"the single-agent path is measured for ppo only, not {spec.algo}")
    refuse_self_play(spec.table, game_info(spec.env).num_seats)
    config = _config(spec)
    (module,) = config._rl_module_spec.rl_module_specs.values()
    return (config
            .environment(ArenaSingleAgentEnv, env_config=dict(config.env_config), disable_env_checking=True)
            .multi_agent(policies={DEFAULT_MODULE_ID}, policy_mapping_fn=AlgorithmConfig.DEFAULT_POLICY_MAPPING_FN,
                         policies_to_train=None)
            .rl_module(rl_module_spec=module)
            .env_runners(gym_env_vectorize_mode="sync"))  # "async" would start one process per env
