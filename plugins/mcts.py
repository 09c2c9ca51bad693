"""The `mcts` policy: OpenSpiel's Monte-Carlo tree search with random rollouts, on the game's native state.

It runs OpenSpiel's C++ MCTSBot (the same UCT search, rollouts and solver as its Python MCTSBot): on Connect Four
a move at 400 simulations takes ~3.5 ms against ~110 ms in Python, which makes MCTS opponents cheap enough to
train against and to generate training data with.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from arena.hookspecs import hookimpl
from arena.types import GameInfo

from arena.gamekinds import needs_native_turn_based

MAX_MEMORY_MB = 256  # the C++ search tree's limit per move; Connect Four at 400 simulations needs well under 1 MB


class MCTSPolicy:
    """UCT search with `simulations` playouts per move (OpenSpiel's C++ MCTSBot and RandomRolloutEvaluator)."""

    def __init__(self, simulations: int = 100, uct_c: float = 2.0, rollouts: int = 1, solve: bool = True):
        if simulations < 1 or rollouts < 1 or uct_c < 0:
            raise ValueError("simulations and rollouts must be at least 1 and uct_c non-negative")
        self.simulations, self.uct_c, self.rollouts, self.solve = simulations, uct_c, rollouts, solve
        self.bot: Any = None
        self._last: Any = None  # (position, root) of the last search

    def check(self, game: GameInfo) -> str | None:
        return needs_native_turn_based(game, "MCTS")

    def reset(self, game: GameInfo, rng: np.random.Generator) -> None:
        import pyspiel

        seed = int(rng.integers(2**31))
        evaluator = pyspiel.RandomRolloutEvaluator(self.rollouts, seed)
        self._last = None
        self.bot = pyspiel.MCTSBot(game.native_game, evaluator, self.uct_c, self.simulations, MAX_MEMORY_MB,
                                   self.solve, seed, False)

    def act(self, state: Any) -> int:
        return int(self.bot.step(state))

    def _search(self, state: Any) -> Any:
        """The root of a search from `state`; the same position asked again (probabilities, then value) is not
        searched twice."""
        key = state.history_str()
        if self._last is None or self._last[0] != key:
            self._last = (key, self.bot.mcts_search(state))
        return self._last[1]

    def action_probabilities(self, state: Any) -> np.ndarray:
        """The search's visit counts per action, normalized: the soft target a network imitates (AlphaZero's).

        The solver ends a search as soon as it proves the position, before the counts mean anything: then the moves
        proven to win share the probability, and moves proven to lose get none while another move is left.
        """
        player = state.current_player()
        children = self._search(state).children
        visits = np.zeros(state.num_distinct_actions(), dtype=np.float64)
        wins = [c.action for c in children if c.outcome and c.outcome[player] > 0]
        if wins:
            visits[wins] = 1.0
            return visits / visits.sum()
        for child in children:
            visits[child.action] = child.explore_count
        losing = [c.action for c in children if c.outcome and c.outcome[player] < 0]
        if losing and len(losing) < len(children) and visits.sum() > visits[losing].sum():
            visits[losing] = 0.0
        return visits / visits.sum()

    def value(self, state: Any) -> float:
        """The search's value of the position for the player to move, in [-1, 1]: proven outcomes when the solver
        found one, otherwise the mean return of its simulations (what AlphaZero-style value heads can learn)."""
        player = state.current_player()
        root = self._search(state)
        if root.outcome:
            return float(root.outcome[player])
        wins = [c for c in root.children if c.outcome and c.outcome[player] > 0]
        if wins:
            return 1.0
        visits = sum(c.explore_count for c in root.children)
        return float(sum(c.total_reward for c in root.children) / visits) if visits else 0.0


@hookimpl
def register_policies(register):
    register("mcts", MCTSPolicy,
             description="OpenSpiel MCTS with random rollouts (simulations=100, uct_c=2.0); turn-based OpenSpiel games.")
