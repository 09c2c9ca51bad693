"""OpenSpiel games: named registrations, any other game by name, and the adapter over pyspiel states."""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arena.errors import ParameterError, UnknownIdError
from arena.hookspecs import hookimpl
from arena.types import GameInfo

# id suffix -> (OpenSpiel game name, fixed parameters, description)
GAMES: dict[str, tuple[str, dict[str, Any], str]] = {
    "connect_four-v0": ("connect_four", {}, "Connect Four: 2 players, 7 columns."),
    "tic_tac_toe-v0": ("tic_tac_toe", {}, "Tic-tac-toe: 2 players on a 3x3 board."),
    "kuhn_poker-v0": ("kuhn_poker", {}, "Kuhn poker: 3 cards, 2 players (players=N for more)."),
    "kuhn_poker_3p-v0": ("kuhn_poker", {"players": 3}, "Kuhn poker with 3 players, free-for-all."),
    "leduc_poker-v0": ("leduc_poker", {}, "Leduc poker: 6 cards, two betting rounds."),
    "liars_dice-v0": ("liars_dice", {}, "Liar's dice: 2 players, bids on hidden dice."),
    "goofspiel-v0": ("goofspiel", {}, "Goofspiel, simultaneous bidding (num_cards, players, points_order, ...)."),
    "markov_soccer-v0": ("markov_soccer", {}, "Markov soccer: 2 players move at once on a grid."),
}


def load_game(name: str, **params: Any) -> Any:
    """pyspiel.load_game with the name and parameters checked first, so errors read as one line."""
    import pyspiel

    known = {g.short_name: g for g in pyspiel.registered_games()}
    if name not in known:
        raise UnknownIdError("env", f"openspiel/{name}", [f"openspiel/{n}" for n in known], "arena envs")
    spec = known[name].parameter_specification
    for key, value in params.items():
        if key not in spec:
            raise ParameterError(
                f"OpenSpiel game {name!r} has no parameter {key!r} (it takes: {', '.join(sorted(spec)) or 'none'})."
            )
        default = spec[key]
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            params[key] = float(value)
        elif type(default) is not type(value) and not (default is None):
            raise ParameterError(
                f"Parameter {key!r} of OpenSpiel game {name!r} must be {type(default).__name__}, got {value!r}."
            )
    kind = known[name]
    players = params.get("players")
    if isinstance(players, int) and not kind.min_num_players <= players <= kind.max_num_players:
        # checked here: pyspiel would print its own multi-line report on stderr before raising
        raise ParameterError(f"OpenSpiel game {name!r} takes {kind.min_num_players} to {kind.max_num_players} "
                             f"players, got players={players}.")
    try:
        game = pyspiel.load_game(name, params)
        if params:  # pyspiel accepts values such as rows=-1 and fails only when the game is used
            _try_out(game)
    except (pyspiel.SpielError, ValueError, OverflowError, MemoryError) as e:
        if not params:
            raise
        given = ", ".join(f"{k}={v}" for k, v in params.items())
        why = " ".join(line.strip() for line in str(e).splitlines())  # SpielError spans lines
        raise ParameterError(f"OpenSpiel game {name!r} cannot be built with {given}: {why}") from None
    return game


def _try_out(game: Any) -> None:
    """Raise ValueError unless the game has a sane shape and a first state (what the adapter relies on)."""
    kind = game.get_type()
    shape = (game.observation_tensor_shape() if kind.provides_observation_tensor else
             game.information_state_tensor_shape() if kind.provides_information_state_tensor else [])
    if any(d < 1 for d in shape) or game.num_distinct_actions() < 1:
        raise ValueError(f"it would have observation shape {list(shape)} and {game.num_distinct_actions()} actions")
    game.new_initial_state()


@hookimpl
def register_envs(register):
    for suffix, (name, params, description) in GAMES.items():
        register(f"openspiel/{suffix}", load_game, description=description, params={"name": name, **params})
    register("openspiel/*-v0", lambda name: functools.partial(load_game, name),
             description="Any other OpenSpiel game by its name, with its parameters.")


@hookimpl
def adapt_env(env, env_id):
    import pyspiel

    if isinstance(env, pyspiel.Game):
        return OpenSpielGame(env, env_id)
    return None


class OpenSpielGame:
    """A pyspiel game: sequential or simultaneous nodes, chance sampled from the seeded generator, N players."""

    def __init__(self, game: Any, env_id: str):
        import pyspiel
        from gymnasium.spaces import Box

        kind = game.get_type()
        self.game = game
        self.num_actions = game.num_distinct_actions()
        if kind.provides_observation_tensor:
            self._tensor, shape = "observation_tensor", game.observation_tensor_shape()
        elif kind.provides_information_state_tensor:
            self._tensor, shape = "information_state_tensor", game.information_state_tensor_shape()
        else:
            self._tensor, shape = None, None
        self._shape = tuple(shape) if shape else None
        n = game.num_players()
        self.info = GameInfo(
            env_id=env_id,
            backend="openspiel",
            num_seats=n,
            num_actions=self.num_actions,
            simultaneous=kind.dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS,
            seat_names=tuple(f"player_{i}" for i in range(n)),
            observation_space=Box(-np.inf, np.inf, self._shape, np.float32) if self._shape else None,
            native_game=game,
        )
        self._simultaneous = self.info.simultaneous
        self._chance = kind.chance_mode != pyspiel.GameType.ChanceMode.DETERMINISTIC
        self.state: Any = None
        self._seed = 0
        self._rng: np.random.Generator | None = None

    def reset(self, seed: int) -> None:
        self._seed, self._rng = seed, None  # the chance generator is made on the first chance event
        self.state = self.game.new_initial_state()
        if self._chance:
            self._resolve_chance()

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    def _resolve_chance(self) -> None:
        state = self.state
        while state.is_chance_node():
            outcomes, probs = zip(*state.chance_outcomes())
            index = int(np.searchsorted(np.cumsum(probs), self.rng.random() * sum(probs), side="right"))
            state.apply_action(outcomes[min(index, len(outcomes) - 1)])

    def is_over(self) -> bool:
        return self.state.is_terminal()

    def to_move(self) -> Sequence[int]:
        state = self.state
        if state.is_terminal():
            return ()
        if self._simultaneous and state.is_simultaneous_node():
            return [p for p in range(self.info.num_seats) if state.legal_actions(p)]
        return (state.current_player(),)

    def legal_actions(self, seat: int) -> Sequence[int]:
        return self.state.legal_actions(seat)

    def action_mask(self, seat: int) -> np.ndarray:
        mask = np.zeros(self.num_actions, dtype=np.int8)
        mask[self.state.legal_actions(seat)] = 1
        return mask

    def observation(self, seat: int) -> Any:
        if self._tensor is None:
            return self.state.observation_string(seat)
        return np.asarray(getattr(self.state, self._tensor)(seat), dtype=np.float32).reshape(self._shape)

    def step(self, actions: Mapping[int, int]) -> None:
        state = self.state
        if self._simultaneous and state.is_simultaneous_node():
            joint = []
            for p in range(self.info.num_seats):
                legal = state.legal_actions(p)
                joint.append(int(actions[p]) if p in actions else (legal[0] if legal else 0))
            state.apply_actions(joint)
        else:
            for action in actions.values():  # the one seat to move
                state.apply_action(action)
        if self._chance:
            self._resolve_chance()

    def returns(self) -> tuple[float, ...]:
        return tuple(float(r) for r in self.state.returns())

    def native_state(self) -> Any:
        return self.state

    def opening_support(self) -> str | None:
        """Why games of this kind cannot start from an opening (arena.openings), or None when they can."""
        if self._simultaneous:
            return "its players move simultaneously"
        if self._chance:
            return "it has chance events"
        import pyspiel

        if self.game.get_type().information != pyspiel.GameType.Information.PERFECT_INFORMATION:
            return "it has hidden information"
        return None

    def action_to_string(self, seat: int, action: int) -> str:
        """An action in OpenSpiel's notation (`x3` in connect_four), as openings files write it."""
        return self.state.action_to_string(seat, action)

    def close(self) -> None:
        self.state = None
