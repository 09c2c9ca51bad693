"""The `mcts` policy: OpenSpiel's Monte-Carlo tree search with random rollouts, on the game's native state."""
from __future__ import annotations

from typing import Any

import numpy as np

from arena.hookspecs import hookimpl
from arena.types import GameInfo

from ._search import needs_native_turn_based


class MCTSPolicy:
    """UCT search with `simulations` playouts per move (OpenSpiel's MCTSBot and RandomRolloutEvaluator)."""

    def __init__(self, simulations: int = 100, uct_c: float = 2.0, rollouts: int = 1, solve: bool = True):
        if simulations < 1 or rollouts < 1 or uct_c < 0:
            raise ValueError("simulations and rollouts must be at least 1 and uct_c non-negative")
        self.simulations, self.uct_c, self.rollouts, self.solve = simulations, uct_c, rollouts, solve
        self.bot: Any = None

    def check(self, game: GameInfo) -> str | None:
        return needs_native_turn_based(game, "MCTS")

    def reset(self, game: GameInfo, rng: np.random.Generator) -> None:
        from open_spiel.python.algorithms import mcts

        random_state = np.random.RandomState(int(rng.integers(2**31)))
        evaluator = mcts.RandomRolloutEvaluator(n_rollouts=self.rollouts, random_state=random_state)
        self.bot = mcts.MCTSBot(game.native_game, self.uct_c, self.simulations, evaluator,
                                solve=self.solve, random_state=random_state)

    def act(self, state: Any) -> int:
        return int(self.bot.step(state))


@hookimpl
def register_policies(register):
    register("mcts", MCTSPolicy,
             description="OpenSpiel MCTS with random rollouts (simulations=100, uct_c=2.0); turn-based OpenSpiel games.")
