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
LOOKAHEAD = 3  # 2 plus, per action, a one-ply tactical lookahead (see `lookahead`); a learner asks for it
THREATS = 4  # 3 plus, per action, forced wins within three plies either way (see `threats`)
KNOWN = (1, 2, 3, 4)


DEPTHS = {0: FEATURES, 1: LOOKAHEAD, 3: THREATS}  # a learner's `lookahead` (plies searched) -> its encoding


def lookahead_error(value: Any) -> str | None:
    """Why `value` is no `lookahead` setting, or None: false (0), true (1: one ply) or 3 (three-ply threats)."""
    if isinstance(value, int) and int(value) in DEPTHS:
        return None
    return f"lookahead must be true (one ply), 3 (threats within three plies) or false, not {value!r}."


def version_for(lookahead: Any) -> int:
    """The encoding a learner with this `lookahead` setting uses: FEATURES (false), LOOKAHEAD (true or 1) or
    THREATS (3). A value that `lookahead_error` refuses counts as false."""
    return DEPTHS.get(int(lookahead), FEATURES) if isinstance(lookahead, int) else FEATURES


def setting_for(version: int) -> str:
    """The learner setting that sees encoding `version`, for hints: 'lookahead = true', 'lookahead = 3' or ''."""
    return {LOOKAHEAD: "lookahead = true", THREATS: "lookahead = 3"}.get(version, "")


def lookahead_unavailable(game: GameInfo) -> str | None:
    """Why this game has no tactical lookahead features, or None: they need the native state of a two-player
    zero-sum turn-based game of perfect information without chance (OpenSpiel's Connect Four, tic-tac-toe, ...)."""
    from arena.gamekinds import needs_two_player_deterministic

    return needs_two_player_deterministic(game, "the lookahead features")


def lookahead(state: Any, num_actions: int) -> np.ndarray:
    """Per action, two flags for the player to move: the action wins at once; after it, the opponent has a reply
    that wins at once. 2 x num_actions values: [wins..., hands a win...].

    A one-ply search, the way AlphaGo's input planes carried ladder and capture results: a small network learns
    strategy from data, but rarely learns from it to see every immediate win and loss (measured on Connect Four:
    behaviour cloning of MCTS-400 scored 0.27 against the heuristic without these flags, 0.71 with them).
    """
    player = state.current_player()
    out = np.zeros(2 * num_actions, dtype=np.float32)
    for action in state.legal_actions():
        child = state.child(action)
        if child.is_terminal():
            out[action] = child.returns()[player] > 0
            continue
        for reply in child.legal_actions():
            after = child.child(reply)
            if after.is_terminal() and after.returns()[player] < 0:
                out[num_actions + action] = 1.0
                break
    return out


def _wins_now(state: Any, player: int) -> bool:
    """The player to move (`player`) has a move that wins at once."""
    for action in state.legal_actions():
        child = state.child(action)
        if child.is_terminal() and child.returns()[player] > 0:
            return True
    return False


def _forced(state: Any, player: int) -> bool:
    """`player`'s opponent is to move in `state`, and every reply lets `player` win at once (a double threat)."""
    for reply in state.legal_actions():
        child = state.child(reply)
        if child.is_terminal() or not _wins_now(child, player):
            return False
    return True


def threats(state: Any, num_actions: int) -> np.ndarray:
    """`lookahead`'s two flags per action, then two more: the action wins by force within three plies (after it,
    every reply lets the mover win at once: a double threat); after it, the opponent has a reply that wins by force
    within its next three plies (it hands the opponent a double threat, or an immediate win). 4 x num_actions values.

    A three-ply threat search with early exits: most branches are refuted by the first reply tried.
    """
    player, n = state.current_player(), num_actions
    out = np.zeros(4 * n, dtype=np.float32)
    out[:2 * n] = lookahead(state, n)
    for action in state.legal_actions():
        if out[n + action]:  # an immediate win handed over is a forced one too; and no forced win of ours
            out[3 * n + action] = 1.0
            continue
        child = state.child(action)
        if child.is_terminal():
            continue
        opponent = child.current_player()
        out[2 * n + action] = _forced(child, player)
        out[3 * n + action] = any(not after.is_terminal() and _forced(after, opponent)
                                  for after in (child.child(reply) for reply in child.legal_actions()))
    return out


def uses_last_action(game: GameInfo) -> bool:
    """Simultaneous-move games add the seat's own previous move to what a learner sees (it knows what it played)."""
    return game.simultaneous


def features(game: GameInfo, observation: Any, history: Sequence[tuple[int, int]], seat: int,
             version: int = FEATURES, state: Any = None) -> np.ndarray:
    """What a learned policy sees: the flattened observation (zero-padded to the widest seat's), plus (simultaneous games) its own last move, one-hot,
    plus (version 2, games with several seats) its seat, one-hot, plus (version 3) the tactical lookahead of the
    native `state` (required then; see `lookahead`).

    The seat matters when the same network plays every seat of a game whose observation does not say whose view
    it is: OpenSpiel's Connect Four tensor is the same for both players, who would otherwise have to infer their
    colour from the parity of the stones on the board.
    """
    import gymnasium as gym

    flat = gym.spaces.flatten(game.observation_space_of(seat), observation).astype(np.float32)
    width = observation_width(game) if game.observation_spaces else 0
    if len(flat) < width:  # seats see different things (MPE's adversaries and good agents): pad to the widest
        flat = np.concatenate([flat, np.zeros(width - len(flat), np.float32)])
    parts = [flat]
    if uses_last_action(game):
        last = np.zeros(game.num_actions + 1, dtype=np.float32)  # the final slot means: no move yet
        mine = [a for s, a in history if s == seat]
        last[mine[-1] if mine else game.num_actions] = 1.0
        parts.append(last)
    if version >= 2 and game.num_seats > 1:
        parts.append(np.eye(game.num_seats, dtype=np.float32)[seat])
    if version >= LOOKAHEAD:
        if state is None:
            raise ValueError("the lookahead features need the game's native state")
        parts.append((threats if version >= THREATS else lookahead)(state, game.num_actions))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def observation_width(game: GameInfo) -> int:
    """The flattened observation's length: the widest seat's, where seats see different spaces (the others are
    padded with zeros, so that one network can play every seat)."""
    import gymnasium as gym

    spaces = game.observation_spaces or (game.observation_space,)
    return max(int(gym.spaces.flatdim(space)) for space in spaces)


def feature_dim(game: GameInfo, version: int = FEATURES) -> int:
    """The length of `features` for this game (-1 when the game has no observation space)."""
    if game.observation_space is None:
        return -1
    return (observation_width(game) + (game.num_actions + 1 if uses_last_action(game) else 0)
            + (game.num_seats if version >= 2 and game.num_seats > 1 else 0)
            + (2 * game.num_actions if version >= LOOKAHEAD else 0) + (2 * game.num_actions if version >= THREATS else 0))
