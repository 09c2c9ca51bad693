"""The contracts between the core and plugins: the Game interface every adapter implements, and the Policy shape."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from arena.types import GameInfo


@runtime_checkable
class Game(Protocol):
    """One game in progress, whatever library it comes from. Seats are numbered 0..num_seats-1.

    Chance events are resolved inside the adapter with the generator seeded by reset(), so the
    same seed and the same actions give the same game.
    """

    info: GameInfo

    def reset(self, seed: int) -> None: ...

    def is_over(self) -> bool: ...

    def to_move(self) -> Sequence[int]:
        """Seats that must act now: one for turn-based play, every live seat at a simultaneous step; () when over."""

    def legal_actions(self, seat: int) -> Sequence[int]: ...

    def action_mask(self, seat: int) -> np.ndarray: ...

    def observation(self, seat: int) -> Any: ...

    def step(self, actions: Mapping[int, int]) -> None:
        """Apply one action per seat in to_move()."""

    def returns(self) -> tuple[float, ...]:
        """Cumulative reward of every seat so far (the final outcome once is_over())."""

    def native_state(self) -> Any:
        """The library's own state (a pyspiel.State) for search policies, or None. Do not mutate it."""

    def close(self) -> None: ...


class Policy(Protocol):
    """Anything with act. act and the optional reset/check take any of these arguments, by name:

    observation, action_mask, legal_actions, state (native), seat, rng (numpy Generator),
    history (the (seat, action) moves so far), game (GameInfo).
    A plain function of (observation, action_mask) is a policy too.
    """

    def act(self, *args: Any, **kwargs: Any) -> int: ...
