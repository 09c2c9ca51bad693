"""The `random` policy: uniform over the legal moves (or, for a continuous action, over its Box), drawn from the
seat's own generator."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from arena.hookspecs import hookimpl
from arena.types import GameInfo


class RandomPolicy:
    """Uniformly random over the legal moves; plays any game. A seat with a continuous action (a Box) gets a
    uniform draw between its bounds (unbounded dimensions: a standard normal draw)."""

    def act(self, legal_actions: Sequence[int], rng: np.random.Generator, game: GameInfo, seat: int) -> Any:
        if game.action_spaces and game.continuous(seat):
            space = game.action_spaces[seat]
            low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
            bounded = np.isfinite(low) & np.isfinite(high)
            draw = rng.uniform(np.where(bounded, low, 0.0), np.where(bounded, high, 1.0))
            return np.where(bounded, draw, rng.standard_normal(space.shape)).astype(space.dtype)
        return legal_actions[int(rng.integers(len(legal_actions)))]

    def action_probabilities(self, action_mask: np.ndarray) -> np.ndarray:
        """Uniform over the legal moves."""
        mask = np.asarray(action_mask, dtype=np.float64)
        return mask / mask.sum()


@hookimpl
def register_policies(register):
    register("random", RandomPolicy, description="Uniformly random legal moves, on any game.")
