"""Gymnasium environments as one-seat games: a registered example and any installed gymnasium id by name."""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena.errors import UnknownIdError, UsageError
from arena.hookspecs import hookimpl
from arena.types import GameInfo


def make(name: str, **params: Any) -> Any:
    import gymnasium

    if name not in gymnasium.registry and "-v" not in name:  # no version given: the latest one
        versions = [n for n in gymnasium.registry if n.rpartition("-v")[0] == name and n.rpartition("-v")[2].isdigit()]
        name = max(versions, key=lambda n: int(n.rpartition("-v")[2]), default=name)
    if name not in gymnasium.registry:
        raise UnknownIdError("env", f"gymnasium/{name}", [f"gymnasium/{n}" for n in gymnasium.registry], "arena envs")
    return gymnasium.make(name, **params)


@hookimpl
def register_envs(register):
    register("gymnasium/CartPole-v1", make, description="CartPole (one seat): keep the pole up.",
             params={"name": "CartPole-v1"})
    register("gymnasium/*", lambda name: functools.partial(make, name),
             description="Any installed Gymnasium env with a Discrete action space.")


@hookimpl
def adapt_env(env, env_id):
    import gymnasium

    if isinstance(env, gymnasium.Env):
        return GymGame(env, env_id)
    return None


class GymGame:
    """A gymnasium.Env played by one seat; its return is the episode's summed reward."""

    def __init__(self, env: Any, env_id: str):
        if not hasattr(env.action_space, "n"):
            raise UsageError(f"{env_id} has a {type(env.action_space).__name__} action space; Arena needs Discrete.")
        self.env = env
        self.info = GameInfo(env_id, "gymnasium", 1, int(env.action_space.n), False, ("player_0",),
                             observation_space=env.observation_space)
        self._obs: Any = None
        self._info: dict[str, Any] = {}
        self._return = 0.0
        self._done = False
        self.truncated = False  # the last episode was cut by a time limit (gymnasium's truncation), not ended

    def reset(self, seed: int) -> None:
        self._obs, self._info = self.env.reset(seed=int(seed))
        self._return, self._done, self.truncated = 0.0, False, False

    def is_over(self) -> bool:
        return self._done

    def to_move(self) -> Sequence[int]:
        return () if self._done else (0,)

    def action_mask(self, seat: int) -> np.ndarray:
        mask = self._info.get("action_mask")
        return np.asarray(mask, dtype=np.int8) if mask is not None else np.ones(self.info.num_actions, np.int8)

    def legal_actions(self, seat: int) -> Sequence[int]:
        return np.flatnonzero(self.action_mask(seat)).tolist()

    def observation(self, seat: int) -> Any:
        return self._obs

    def step(self, actions: Mapping[int, int]) -> None:
        self._obs, reward, terminated, truncated, self._info = self.env.step(int(actions[0]))
        self._return += float(reward)
        self._done = bool(terminated or truncated)
        self.truncated = bool(truncated and not terminated)

    def returns(self) -> tuple[float, ...]:
        return (self._return,)

    def native_state(self) -> Any:
        return None

    def close(self) -> None:
        self.env.close()
