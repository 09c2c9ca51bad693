"""Rock-paper-scissors heuristics: `constant` (always the same), `beat-last` and `cycle`. Actions: 0 rock, 1 paper, 2 scissors."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arena.hookspecs import hookimpl
from arena.types import GameInfo


def _rps_only(game: GameInfo) -> str | None:
    if game.num_actions != 3 or not game.simultaneous:
        return "it plays rock-paper-scissors (3 actions, simultaneous), e.g. pettingzoo/rps_v2"
    return None


class Constant:
    """Always plays `action` (0 rock, 1 paper, 2 scissors), or the first legal move when it is not legal."""

    def __init__(self, action: int = 0):
        self.action = action

    def act(self, legal_actions: Sequence[int]) -> int:
        return self.action if self.action in legal_actions else legal_actions[0]


class BeatLast:
    """Plays the move that beats the opponent's previous move; a random first move."""

    check = staticmethod(_rps_only)

    def act(self, history: Sequence[tuple[int, int]], seat: int, rng: np.random.Generator) -> int:
        for who, action in reversed(history):
            if who != seat:
                return (action + 1) % 3
        return int(rng.integers(3))


class Cycle:
    """Plays rock, paper, scissors, rock, ... starting from `start`."""

    check = staticmethod(_rps_only)

    def __init__(self, start: int = 0):
        self.start = start

    def act(self, history: Sequence[tuple[int, int]], seat: int) -> int:
        played = sum(1 for who, _ in history if who == seat)
        return (self.start + played) % 3


@hookimpl
def register_policies(register):
    register("constant", Constant, description="Always the same move (action=0: rock); any game.")
    register("beat-last", BeatLast, description="Rock-paper-scissors: beat the opponent's last move.")
    register("cycle", Cycle, description="Rock-paper-scissors: rock, paper, scissors, in turn (start=0).")
