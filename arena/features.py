"""What a learned policy sees: the feature vector built from a game's observation, history and seat, and its size.

Learners (RLlib's env bridge), snapshots, dataset exports and behaviour cloning all build it here, so a network
trained on one of them reads the others. The version number (`FEATURES`) is recorded in snapshots and datasets.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from arena.types import GameInfo

FEATURES = 2  # what `features` builds: 1 = observation (+ last move); 2 adds the seat, one-hot


def uses_last_action(game: GameInfo) -> bool:
    """Simultaneous-move games add the seat's own previous move to what a learner sees (it knows what it played)."""
    return game.simultaneous


def features(game: GameInfo, observation: Any, history: Sequence[tuple[int, int]], seat: int,
             version: int = FEATURES) -> np.ndarray:
    """What a learned policy sees: the flattened observation, plus (simultaneous games) its own last move, one-hot,
    plus (version 2, games with several seats) its seat, one-hot.

    The seat matters when the same network plays every seat of a game whose observation does not say whose view
    it is: OpenSpiel's Connect Four tensor is the same for both players, who would otherwise have to infer their
    colour from the parity of the stones on the board.
    """
    import gymnasium as gym

    parts = [gym.spaces.flatten(game.observation_space, observation).astype(np.float32)]
    if uses_last_action(game):
        last = np.zeros(game.num_actions + 1, dtype=np.float32)  # the final slot means: no move yet
        mine = [a for s, a in history if s == seat]
        last[mine[-1] if mine else game.num_actions] = 1.0
        parts.append(last)
    if version >= 2 and game.num_seats > 1:
        parts.append(np.eye(game.num_seats, dtype=np.float32)[seat])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def feature_dim(game: GameInfo, version: int = FEATURES) -> int:
    """The length of `features` for this game (-1 when the game has no observation space)."""
    import gymnasium as gym

    if game.observation_space is None:
        return -1
    return (int(gym.spaces.flatdim(game.observation_space)) + (game.num_actions + 1 if uses_last_action(game) else 0)
            + (game.num_seats if version >= 2 and game.num_seats > 1 else 0))
