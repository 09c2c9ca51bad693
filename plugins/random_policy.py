"""The `random` policy: uniform over the legal moves, drawn from the seat's own generator."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arena.hookspecs import hookimpl


class RandomPolicy:
    """Uniformly random over the legal moves; plays any game."""

    def act(self, legal_actions: Sequence[int], rng: np.random.Generator) -> int:
        return legal_actions[int(rng.integers(len(legal_actions)))]

    def action_probabilities(self, action_mask: np.ndarray) -> np.ndarray:
        """Uniform over the legal moves."""
        mask = np.asarray(action_mask, dtype=np.float64)
        return mask / mask.sum()


@hookimpl
def register_policies(register):
    register("random", RandomPolicy, description="Uniformly random legal moves, on any game.")
