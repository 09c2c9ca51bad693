"""The bridge from any Arena game to RLlib's MultiAgentEnv: masked observations, turn-based rewards, opponents inside.

Only seats played by learning modules are RLlib agents; their ids are "MODULE:SEAT" (e.g. "main:1"), so the
agent-to-module mapping just reads the id. Which module or Arena policy sits in which seat is decided per episode
from a matchmaking table that Arena owns (`set_table`); RLlib never holds league state. Opponents (heuristics,
search bots, frozen snapshots) are played inside the env by Arena's own policy objects, with the native state when
they need it. An illegal action from a learner is never replaced: it raises, because masking must prevent it.

The envs of one process, i.e. of one EnvRunner (64 by default), share what `shared_by_process` gives them: one
registry (one plugin scan, with the driver's plugin block list from env_config["blocked"]) and the opponents
without per-game state (snapshots, heuristics), of which at most `max_loaded_opponents` stay in memory there;
the rest wait on disk and are loaded again when drawn. An opponent with per-game state (MCTS) gets its own
instance in each env.
"""
from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from arena.learners import SHARING, seat_modules, team_seats  # noqa: F401 (SHARING: re-exported)
from arena.match import argument_getter
from arena.registry import Registry
from arena.settings import Settings

from arena.features import LOOKAHEAD, feature_dim, features, lookahead_unavailable, version_for

from .ray_snapshots import unpack

SELF = "self"  # a table entry meaning: the learning module plays every seat (latest self-play)
MAX_LOADED = 8  # shared opponent policies (snapshot networks included) kept in memory per EnvRunner


def agent_id(module: str, seat: int) -> str:
    return f"{module}:{seat}"


def module_of(agent: str, *args: Any, **kwargs: Any) -> str:
    """RLlib's agent-to-module mapping: the module named in the agent id."""
    return agent.rpartition(":")[0]


class IllegalActionError(RuntimeError):
    """A learning module chose a move its action mask forbade."""


class OpponentCache:
    """Opponent policies by key, least recently used first; one per process is shared by its envs."""

    def __init__(self) -> None:
        self.policies: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        """The policy under key (now the most recently used), or None."""
        policy = self.policies.get(key)
        if policy is not None:
            self.policies.move_to_end(key)
        return policy

    def put(self, key: str, policy: Any, limit: int) -> None:
        """Keep policy under key, dropping the least recently used beyond `limit`."""
        self.policies[key] = policy
        while len(self.policies) > limit:
            self.policies.popitem(last=False)


@dataclasses.dataclass(frozen=True)
class ProcessShared:
    """What the envs of one process share: a registry and the opponents without per-game state."""

    registry: Registry
    opponents: OpponentCache


def shared_by_process(blocked: Iterable[str] | None = None) -> ProcessShared:
    """This process's registry and opponent cache for a plugin block list (None: this process's settings, i.e.
    $ARENA_BLOCK_PLUGINS), built by the first env that asks and shared by the others; `_shared.cache_clear()`
    forgets them. The registry's other settings come from this process's environment."""
    if blocked is None:
        blocked = Settings.from_environment().blocked
    return _shared(tuple(sorted(set(blocked))))


@functools.cache
def _shared(blocked: tuple[str, ...]) -> ProcessShared:
    settings = dataclasses.replace(Settings.from_environment(), blocked=blocked)
    return ProcessShared(Registry(settings=settings), OpponentCache())


class ArenaMultiAgentEnv(MultiAgentEnv):
    """An Arena game as an RLlib MultiAgentEnv. env_config: {"env": spec, "module": id, "table": {opponent: weight},
    "seed": int, "blocked": [plugin names not to load] (default: this process's settings), "max_loaded_opponents":
    int, "opening_plies": K (episodes start after 0..K random plies), "lookahead": false, true or 3 (features version 2, 3 or 4),
    "sharing": "all", "team" or "agent" (which module plays which seat: `seat_modules`), "team": a team name (the
    learner plays only that team's seats, opponents the others; None: a side drawn per episode)}."""

    def __init__(self, config: Mapping[str, Any] | None = None):
        super().__init__()
        config = dict(config or {})
        unpack(config.get("snapshots") or {})  # on another node of a cluster: the opponents' snapshot folders
        self.shared = shared_by_process(config.get("blocked"))
        self.registry = self.shared.registry
        self.game = self.registry.make_game(config["env"])
        info = self.game.info
        self.module = config.get("module", "main")
        # "lookahead": the learner also sees, per action, whether it wins at once or hands the opponent a win
        self.features = version_for(config.get("lookahead", False))
        if self.features >= LOOKAHEAD and lookahead_unavailable(info):
            raise ValueError(f"{info.env_id}: {lookahead_unavailable(info)}")
        self.num_seats = info.num_seats
        self._obs_space = info.observation_space
        for space in info.observation_spaces or (self._obs_space,):
            flat = gym.spaces.flatten_space(space) if space is not None else None
            if flat is None or not isinstance(flat, gym.spaces.Box):
                raise ValueError(f"{info.env_id}: observations of type {type(space).__name__} cannot be learned")
        self.team = config.get("team")
        self.playable = team_seats(info, self.team)  # the seats the learner may hold
        if any(info.continuous(s) for s in self.playable):
            raise ValueError(f"{info.env_id}: continuous (Box) actions cannot be learned yet; play it with "
                             "continuous_actions=false")
        self.seat_module = seat_modules(info, config.get("sharing", "all"), self.module)
        self.sides = info.sides
        self.margin = float(info.draw_margin)
        single = gym.spaces.Dict({
            "observations": gym.spaces.Box(-np.inf, np.inf, (feature_dim(info, self.features),), np.float32),
            "action_mask": gym.spaces.Box(0.0, 1.0, (info.num_actions,), np.float32),
        })
        self.possible_agents = [self._agent(s) for s in self.playable]
        self.agents = []
        self.observation_spaces = {a: single for a in self.possible_agents}
        self.action_spaces = {a: gym.spaces.Discrete(info.num_actions) for a in self.possible_agents}
        self.rng = np.random.default_rng(config.get("seed"))
        self._own = OpponentCache()  # opponents with per-game state, this env's alone
        self.max_loaded = int(config.get("max_loaded_opponents", MAX_LOADED))
        # Episodes start after 0..K uniformly random plies (both sides), so the learner meets the positions that
        # evaluation openings (random:plies=K) lead to, not only the lines that follow from the empty board.
        self.opening_plies = int(config.get("opening_plies", 0))
        self.set_table(config.get("table") or {SELF: 1.0})
        self.outcomes: list[tuple[str, float]] = []  # (opponent, learner score) of finished episodes
        self.returns: list[float] = []  # one-side games: the learner's (mean) return in each finished episode
        self.illegal_actions = 0

    # -- the matchmaking table --------------------------------------------------------------------
    def set_table(self, table: Mapping[str, float]) -> None:
        """Who the learner meets, with weights; SELF for self-play. Takes effect at the next episode."""
        if not table or any(w < 0 for w in table.values()) or sum(table.values()) <= 0:
            raise ValueError(f"a matchmaking table needs positive weights, got {dict(table)}")
        if SELF in table and len(self.playable) < self.num_seats:
            raise ValueError(f"a learner bound to team {self.team} cannot play itself (self-play needs every seat)")
        self.table = dict(table)
        self._names = list(self.table)
        weights = np.array([self.table[n] for n in self._names], dtype=float)
        self._weights = weights / weights.sum()

    def take_outcomes(self) -> list[tuple[str, float]]:
        """Finished episodes since the last call: (opponent, the learner's score: the share of the other seats it
        beat, ties counting half; 1/0.5/0 with two seats). None in a one-seat game (see take_returns)."""
        out, self.outcomes = self.outcomes, []
        return out

    def take_returns(self) -> list[float]:
        """One-seat games: the learner's return in each episode finished since the last call."""
        out, self.returns = self.returns, []
        return out

    def _policy(self, spec: str, seat: int) -> Any:
        """The opponent's policy object: shared by this process's envs, unless it keeps per-game state (then one
        per env and seat)."""
        own, shared = f"{spec}|{seat}", f"{self.game.info.env_id}|{spec}"  # checked against one game
        policy = self._own.get(own)
        if policy is None:
            policy = self.shared.opponents.get(shared)
        if policy is None:
            policy = self.registry.make_policy(spec)
            policy.check(self.game.info)
            cache, key = (self._own, own) if policy.resets else (self.shared.opponents, shared)
            cache.put(key, policy, self.max_loaded)
        return policy

    # -- MultiAgentEnv ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.opponent = self._names[int(self.rng.choice(len(self._names), p=self._weights))]
        if self.opponent == SELF:
            self.learner_seats = set(range(self.num_seats))
        elif self.team is not None:
            self.learner_seats = set(self.playable)
        else:  # one side, drawn: a seat of a two-player game, a team of a simulation
            self.learner_seats = set(self.sides[int(self.rng.integers(len(self.sides)))])
        self._bots = {}
        self._moves: list[tuple[int, int]] = []
        for seat in range(self.num_seats):
            if seat not in self.learner_seats:
                policy = self._policy(self.opponent, seat)
                rng = np.random.default_rng(int(self.rng.integers(2**63)))
                self._bots[seat] = _SeatBot(self.game, policy, seat, rng, self._moves)
        seed = int(self.rng.integers(2**31))
        self.game.reset(seed)
        for bot in self._bots.values():
            bot.reset()
        self._opening(seed)
        self._seen: set[int] = set()
        self._paid = [0.0] * self.num_seats
        self.agents = [self._agent(s) for s in sorted(self.learner_seats)]
        self._advance()
        return self._observations(), {}

    def step(self, action_dict: Mapping[str, int]):
        actions = {}
        for agent, action in action_dict.items():
            seat = int(agent.rpartition(":")[2])
            if int(action) not in self.game.legal_actions(seat):
                self.illegal_actions += 1
                raise IllegalActionError(f"{agent} chose illegal action {action} in {self.game.info.env_id}")
            actions[seat] = int(action)
        for seat in self.game.to_move():
            if seat not in actions:  # a bot seat moving at the same simultaneous step
                actions[seat] = self._bots[seat].act()
        self._play(actions)
        self._advance()
        over = not self.game.to_move()
        # A time limit ends an episode without ending the task (gymnasium's TimeLimit; GymGame.truncated): such an
        # episode is truncated, not terminated, so that RLlib bootstraps its value instead of reading the cut as an
        # outcome.
        truncated = over and bool(getattr(self.game, "truncated", False))
        obs = self._final_observations() if truncated else self._observations()
        rewards = self._rewards()
        if over:
            self._finish()
        terminated, cut = over and not truncated, truncated
        return (obs, rewards, {a: terminated for a in rewards} | {"__all__": terminated},
                {a: cut for a in rewards} | {"__all__": cut}, {})

    # -- internals --------------------------------------------------------------------------------
    def _opening(self, seed: int) -> None:
        """Play 0..opening_plies random legal plies; a game that ends inside its opening starts again without one."""
        for _ in range(int(self.rng.integers(self.opening_plies + 1)) if self.opening_plies else 0):
            movers = self.game.to_move()
            self._play({s: int(self.rng.choice(self.game.legal_actions(s))) for s in movers})
            if not self.game.to_move():
                self._moves.clear()
                self.game.reset(seed)
                for bot in self._bots.values():
                    bot.reset()
                return

    def _advance(self) -> None:
        """Let the bots move until a learner seat must act or the game is over."""
        while True:
            movers = self.game.to_move()
            if not movers or any(s in self.learner_seats for s in movers):
                return
            self._play({s: self._bots[s].act() for s in movers})

    def _play(self, actions: dict[int, int]) -> None:
        self.game.step(actions)
        self._moves.extend(sorted(actions.items()))

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        out = {}
        for seat in self.game.to_move():
            if seat in self.learner_seats:
                self._seen.add(seat)
                obs = features(self.game.info, self.game.observation(seat), self._moves, seat, self.features,
                               self.game.native_state() if self.features >= LOOKAHEAD else None)
                mask = np.asarray(self.game.action_mask(seat), dtype=np.float32)
                out[self._agent(seat)] = {"observations": obs, "action_mask": mask}
        return out

    def final_observation(self, seat: int) -> dict[str, np.ndarray]:
        """The seat's view of the position after the game ended: its features and an all-zero mask (nothing is
        legal). RLlib reads its value when the episode was truncated."""
        obs = features(self.game.info, self.game.observation(seat), self._moves, seat, self.features,
                       self.game.native_state() if self.features >= LOOKAHEAD else None)
        return {"observations": obs, "action_mask": np.zeros(self.game.info.num_actions, dtype=np.float32)}

    def _final_observations(self) -> dict[str, dict[str, np.ndarray]]:
        return {self._agent(seat): self.final_observation(seat) for seat in sorted(self._seen)}

    def _rewards(self) -> dict[str, float]:
        """Reward since the last step for every learner seat that has been observed, the final outcome included."""
        returns = self.game.returns()
        out = {}
        for seat in self._seen:
            out[self._agent(seat)] = returns[seat] - self._paid[seat]
            self._paid[seat] = returns[seat]
        return out

    def _finish(self) -> None:
        returns = self.game.returns()
        if len(self.sides) == 1:  # nobody to beat: one seat, or one team of everyone
            self.returns.append(float(np.mean(returns)))
            return
        if self.opponent == SELF:
            return
        side = [float(np.mean([returns[s] for s in seats])) for seats in self.sides]
        (mine,) = [i for i, seats in enumerate(self.sides) if set(seats) == self.learner_seats]
        # the share of the other sides beaten, a tie (within the game's draw margin) counting half
        beaten = sum(0.5 if abs(side[mine] - r) <= self.margin else float(side[mine] > r)
                     for i, r in enumerate(side) if i != mine)
        self.outcomes.append((self.opponent, beaten / (len(side) - 1)))

    def _agent(self, seat: int) -> str:
        return agent_id(self.seat_module[seat], seat)


class _SeatBot:
    """An Arena policy bound to one seat of the env's game, with its own generator."""

    def __init__(self, game: Any, policy: Any, seat: int, rng: np.random.Generator, moves: list[tuple[int, int]]):
        self._act, self._reset = policy.bind(argument_getter(game, seat, rng, moves))

    def reset(self) -> None:
        if self._reset is not None:
            self._reset()

    def act(self) -> int:
        return int(self._act())
