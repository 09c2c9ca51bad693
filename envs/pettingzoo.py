"""PettingZoo games: the classic registrations and the adapters for AECEnv (turn-based) and ParallelEnv (simultaneous)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena.errors import UsageError
from arena.hookspecs import hookimpl
from arena.types import GameInfo

CLASSIC = {  # Arena id suffix -> (PettingZoo API, description); the registry id is classic/<name>-vN
    "connect_four_v3": ("aec", "Connect Four: 2 players, 7 columns, drop discs to line up four."),
    "tictactoe_v3": ("aec", "Tic-tac-toe: 2 players on a 3x3 board."),
    "rps_v2": ("parallel", "Rock-paper-scissors, simultaneous, repeated for max_cycles (15) steps."),
    "leduc_holdem_v4": ("aec", "Leduc hold'em poker (RLCard): 2 players, 6 cards, two betting rounds."),
    "texas_holdem_v4": ("aec", "Limit Texas hold'em (RLCard): 2 players."),
    "chess_v6": ("aec", "Chess (python-chess): 2 players, 4672 actions."),
}


def make(api: str, name: str, **params: Any) -> Any:
    """An env from PettingZoo's own registry (`pettingzoo.make`)."""
    import pettingzoo

    return pettingzoo.make(api, name, **params)


@hookimpl
def register_envs(register):
    for name, (api, description) in CLASSIC.items():
        base, _, version = name.rpartition("_v")
        register(f"pettingzoo/{name}", make, description=description,
                 params={"api": api, "name": f"classic/{base}-v{version}"})


@hookimpl
def adapt_env(env, env_id):
    from pettingzoo.utils.env import AECEnv, ParallelEnv

    if isinstance(env, AECEnv):
        return AECGame(env, env_id)
    if isinstance(env, ParallelEnv):
        return ParallelGame(env, env_id)
    return None


def _info(env: Any, env_id: str, backend: str, simultaneous: bool) -> GameInfo:
    agents = list(env.possible_agents)
    spaces = tuple(env.action_space(a) for a in agents)
    sizes = []
    for a, space in zip(agents, spaces):
        if hasattr(space, "n"):
            sizes.append(int(space.n))
        elif type(space).__name__ != "Box" or not backend.endswith("parallel"):
            raise UsageError(f"{env_id}: seat {a!r} has a {type(space).__name__} action space; Arena plays Discrete "
                             "actions, and Box actions in simultaneous (Parallel API) games.")
    obs_spaces = []
    for a in agents:
        space = env.observation_space(a)
        obs_spaces.append(space["observation"] if hasattr(space, "spaces") and "observation" in space.spaces
                          else space)
    obs_space = obs_spaces[0]
    teams, names = _teams(env, agents)
    return GameInfo(env_id, backend, len(agents), max(sizes, default=0), simultaneous, tuple(agents),
                    observation_space=obs_space, action_spaces=spaces,
                    observation_spaces=tuple(obs_spaces) if any(o != obs_space for o in obs_spaces) else (), teams=teams, team_names=names,
                    draw_margin=float(getattr(env, "arena_draw_margin", 0.0)))


def _teams(env: Any, agents: list[str]) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]]:
    """Teams where the library makes them plain: a factory's `arena_teams` ({team: [agent names]}), else a Multi
    Particle world's agents, split by their `adversary` flag ("adversaries", "good"), or all on one team ("all")
    when none is an adversary. ((), ()) otherwise."""
    given = getattr(env, "arena_teams", None)
    if given:
        return tuple(tuple(agents.index(a) for a in members) for members in given.values()), tuple(given)
    world = getattr(env.unwrapped, "world", None)
    if world is None or not hasattr(world, "agents"):
        return (), ()
    flag = {a.name: bool(getattr(a, "adversary", False)) for a in world.agents}
    if not any(flag.get(a) for a in agents):
        return (tuple(range(len(agents))),), ("all",)
    adversaries = tuple(i for i, a in enumerate(agents) if flag.get(a))
    good = tuple(i for i, a in enumerate(agents) if not flag.get(a))
    return (adversaries, good), ("adversaries", "good")


def _split(obs: Any, info: Mapping[str, Any] | None, n: int) -> tuple[Any, np.ndarray]:
    """(observation, action mask) from PettingZoo's conventions: a dict observation or the info dict."""
    if isinstance(obs, dict) and "action_mask" in obs:
        return obs.get("observation"), np.asarray(obs["action_mask"], dtype=np.int8)
    if info and "action_mask" in info:
        return obs, np.asarray(info["action_mask"], dtype=np.int8)
    return obs, np.ones(n, dtype=np.int8)


_NO_MASK = np.zeros(0, dtype=np.int8)

# classic games without chance events or hidden information: openings (arena.openings) replay on them
OPENING_GAMES = ("connect_four", "tictactoe", "chess", "go")
CARD_GAMES = ("leduc_holdem", "texas_holdem", "texas_holdem_no_limit", "gin_rummy", "hanabi")  # chance, hidden cards


class AECGame:
    """A PettingZoo AECEnv: one agent acts at a time; every agent's rewards are summed after each move.

    Moves go through the wrapped env (so PettingZoo's own checks apply); state is read from the
    unwrapped env, because each wrapper layer's __getattr__ costs more than the read itself.
    """

    def __init__(self, env: Any, env_id: str):
        self.env = env
        self.raw = env.unwrapped
        self.info = _info(env, env_id, "pettingzoo-aec", simultaneous=False)
        self.seat_of = {a: i for i, a in enumerate(env.possible_agents)}
        self._returns = [0.0] * self.info.num_seats
        self._cache: dict[int, tuple[Any, np.ndarray]] = {}

    def reset(self, seed: int) -> None:
        self.env.reset(seed=int(seed))
        self._returns = [0.0] * self.info.num_seats
        self._cache.clear()

    def is_over(self) -> bool:
        raw = self.raw
        return not raw.agents or all(raw.terminations[a] or raw.truncations[a] for a in raw.agents)

    def to_move(self) -> Sequence[int]:
        raw = self.raw
        while True:
            if self.is_over():
                return ()
            agent = raw.agent_selection
            if not (raw.terminations[agent] or raw.truncations[agent]):
                return (self.seat_of[agent],)
            self.env.step(None)  # an agent that is done while others play takes PettingZoo's "dead step"

    def _observed(self, seat: int) -> tuple[Any, np.ndarray]:
        hit = self._cache.get(seat)
        if hit is None:
            agent = self.info.seat_names[seat]
            hit = self._cache[seat] = _split(self.env.observe(agent), self.raw.infos.get(agent), self.info.num_actions)
        return hit

    def observation(self, seat: int) -> Any:
        return self._observed(seat)[0]

    def action_mask(self, seat: int) -> np.ndarray:
        return self._observed(seat)[1]

    def legal_actions(self, seat: int) -> Sequence[int]:
        return np.flatnonzero(self._observed(seat)[1]).tolist()

    def step(self, actions: Mapping[int, int]) -> None:
        for action in actions.values():  # the one seat to move
            self.env.step(action)
        for agent, reward in self.raw.rewards.items():
            self._returns[self.seat_of[agent]] += float(reward)
        self._cache.clear()

    def returns(self) -> tuple[float, ...]:
        return tuple(self._returns)

    def native_state(self) -> Any:
        return None

    def opening_support(self) -> str | None:
        """Why games of this kind cannot start from an opening (arena.openings), or None when they can."""
        name = str(self.raw.metadata.get("name", ""))
        base = name.rsplit("_v", 1)[0]
        if base in OPENING_GAMES:
            return None
        if base in CARD_GAMES:
            return "it has chance events (the deal) and hidden information"
        return (f"Arena does not know that {name or 'this game'} is free of chance and hidden information "
                f"(openings replay on {', '.join(OPENING_GAMES)})")

    def close(self) -> None:
        self.env.close()


class ParallelGame:
    """A PettingZoo ParallelEnv: every live agent acts at each step."""

    def __init__(self, env: Any, env_id: str):
        self.env = env
        self.info = _info(env, env_id, "pettingzoo-parallel", simultaneous=True)
        self.seat_of = {a: i for i, a in enumerate(env.possible_agents)}
        self._sizes = [int(sp.n) if hasattr(sp, "n") else None for sp in self.info.action_spaces]
        self._returns = [0.0] * self.info.num_seats
        self._obs: dict[str, Any] = {}
        self._infos: dict[str, Any] = {}
        self.truncated = False

    def reset(self, seed: int) -> None:
        self._obs, self._infos = self.env.reset(seed=int(seed))
        self._returns = [0.0] * self.info.num_seats
        self.truncated = False

    def is_over(self) -> bool:
        return not self.env.agents

    def to_move(self) -> Sequence[int]:
        return sorted(self.seat_of[a] for a in self.env.agents)  # empty once every agent is done

    def _observed(self, seat: int) -> tuple[Any, np.ndarray]:
        agent = self.info.seat_names[seat]
        if self._sizes[seat] is None:  # a Box seat: no action mask, no list of legal moves
            return self._obs.get(agent), _NO_MASK
        obs, mask = _split(self._obs.get(agent), self._infos.get(agent), self._sizes[seat])
        if len(mask) < self.info.num_actions:  # a seat with fewer actions than the game's largest
            mask = np.concatenate([mask, np.zeros(self.info.num_actions - len(mask), np.int8)])
        return obs, mask

    def observation(self, seat: int) -> Any:
        return self._observed(seat)[0]

    def action_mask(self, seat: int) -> np.ndarray:
        return self._observed(seat)[1]

    def legal_actions(self, seat: int) -> Sequence[int]:
        return np.flatnonzero(self._observed(seat)[1]).tolist()

    def step(self, actions: Mapping[int, Any]) -> None:
        names, sizes = self.info.seat_names, self._sizes
        self._obs, rewards, terminations, truncations, self._infos = self.env.step(
            {names[s]: int(a) if sizes[s] is not None else a for s, a in actions.items()})
        # over by a time limit (MPE's max_cycles) rather than by an outcome: learners bootstrap such an episode
        self.truncated = not self.env.agents and any(truncations.values()) and not any(terminations.values())
        for agent, reward in rewards.items():
            self._returns[self.seat_of[agent]] += float(reward)

    def returns(self) -> tuple[float, ...]:
        return tuple(self._returns)

    def native_state(self) -> Any:
        """A Multi Particle world (positions and velocities of every agent and landmark), for heuristics; else None."""
        return getattr(self.env.unwrapped, "world", None)

    def opening_support(self) -> str | None:
        return "its players move simultaneously"

    def close(self) -> None:
        self.env.close()
