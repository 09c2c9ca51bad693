"""The `alphabeta` policy: depth-limited alpha-beta (OpenSpiel's minimax) for small deterministic two-player games."""
from __future__ import annotations

from typing import Any

import numpy as np

from arena.hookspecs import hookimpl
from arena.types import GameInfo

from arena.gamekinds import needs_two_player_deterministic


class AlphaBetaPolicy:
    """Searches each legal move `depth` plies deep; leaves past the horizon are worth 0. Ties break at random."""

    def __init__(self, depth: int = 4):
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth

    def check(self, game: GameInfo) -> str | None:
        return needs_two_player_deterministic(game, "alpha-beta")

    def act(self, state: Any, seat: int, game: GameInfo, rng: np.random.Generator) -> int:
        from open_spiel.python.algorithms.minimax import alpha_beta_search

        values = {}
        for action in state.legal_actions():
            child = state.child(action)
            if child.is_terminal() or self.depth == 1:
                values[action] = child.player_return(seat) if child.is_terminal() else 0.0
            else:
                values[action], _ = alpha_beta_search(game.native_game, child, value_function=lambda s: 0.0,
                                                      maximum_depth=self.depth - 1, maximizing_player_id=seat)
        best = max(values.values())
        choices = [a for a, v in values.items() if v == best]
        return choices[int(rng.integers(len(choices)))]


@hookimpl
def register_policies(register):
    register("alphabeta", AlphaBetaPolicy,
             description="Alpha-beta search to `depth` plies (default 4; 9 solves tic-tac-toe); 2-player OpenSpiel games.")
