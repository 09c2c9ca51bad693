"""The `connect_four_heuristic` policy: win if you can, block if you must, avoid feeding a win, prefer the centre."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arena.hookspecs import hookimpl
from arena.types import GameInfo

ROWS, COLS = 6, 7
CENTRE_WEIGHT = np.array([1, 2, 3, 4, 3, 2, 1], dtype=float)


def board_from_observation(observation: np.ndarray, seat: int) -> tuple[np.ndarray, np.ndarray]:
    """(mine, theirs) boolean boards with row 0 at the bottom, from either backend's observation."""
    obs = np.asarray(observation)
    if obs.shape == (3, ROWS, COLS):  # OpenSpiel: planes for player 0, player 1, empty; row 0 is the bottom
        return obs[seat] > 0, obs[1 - seat] > 0
    if obs.shape == (ROWS, COLS, 2):  # PettingZoo: planes for the mover, the opponent; row 0 is the top
        return obs[::-1, :, 0] > 0, obs[::-1, :, 1] > 0
    raise ValueError(f"not a Connect Four observation: shape {obs.shape}")


def landing_row(mine: np.ndarray, theirs: np.ndarray, col: int) -> int | None:
    filled = mine[:, col] | theirs[:, col]
    empty = np.flatnonzero(~filled)
    return int(empty[0]) if len(empty) else None


def wins(board: np.ndarray, row: int, col: int) -> bool:
    """Whether a disc at (row, col) completes four in a row on `board` (which already holds it)."""
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        count = 1
        for sign in (1, -1):
            r, c = row + sign * dr, col + sign * dc
            while 0 <= r < ROWS and 0 <= c < COLS and board[r, c]:
                count += 1
                r, c = r + sign * dr, c + sign * dc
        if count >= 4:
            return True
    return False


def winning_columns(player: np.ndarray, other: np.ndarray, columns: Sequence[int]) -> list[int]:
    found = []
    for col in columns:
        row = landing_row(player, other, col)
        if row is None:
            continue
        player[row, col] = True
        if wins(player, row, col):
            found.append(col)
        player[row, col] = False
    return found


class ConnectFourHeuristic:
    """Takes a win, blocks the opponent's win, avoids moves that let the opponent win on top, prefers the centre."""

    def check(self, game: GameInfo) -> str | None:
        shape = getattr(game.observation_space, "shape", None)
        if game.num_actions != COLS or game.num_seats != 2 or shape not in ((3, ROWS, COLS), (ROWS, COLS, 2)):
            return "it plays Connect Four only (openspiel/connect_four or pettingzoo/connect_four_v3)"
        return None

    def act(self, observation: np.ndarray, legal_actions: Sequence[int], seat: int, rng: np.random.Generator) -> int:
        mine, theirs = board_from_observation(observation, seat)
        mine, theirs = mine.copy(), theirs.copy()
        legal = list(legal_actions)
        for player, other in ((mine, theirs), (theirs, mine)):  # win first, then block
            cols = winning_columns(player, other, legal)
            if cols:
                return cols[0]
        safe = []
        for col in legal:  # a move is unsafe if the opponent can then win in the same column
            row = landing_row(mine, theirs, col)
            mine[row, col] = True
            if not winning_columns(theirs, mine, [col]):
                safe.append(col)
            mine[row, col] = False
        choices = safe or legal
        weights = CENTRE_WEIGHT[choices] ** 2
        return int(choices[int(rng.choice(len(choices), p=weights / weights.sum()))])


@hookimpl
def register_policies(register):
    register("connect_four_heuristic", ConnectFourHeuristic,
             description="Connect Four: win, block, avoid giving a win, prefer the centre; both backends.")
