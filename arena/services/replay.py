"""Replays of stored games and the positions a front end draws: a stored game re-simulated from its seed, opening and
moves through the match runner, seen at any ply, with hidden information kept hidden until the game's end.

`position()` is what a page shows of a game in progress: the state's text (or, for games with hidden information,
what the viewer may see) and, for Connect Four and tic-tac-toe, the board as a grid plus the action of each cell.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from arena.errors import UsageError
from arena.ids import family
from arena.match import play_game
from arena.openings import replay as replay_opening
from arena.policy import BoundPolicy

# The games drawn as boards: family -> (kind, rows, columns). Every other game shows its state's text.
BOARDS = {"openspiel/connect_four": ("connect_four", 6, 7), "pettingzoo/connect_four": ("connect_four", 6, 7),
          "openspiel/tic_tac_toe": ("tic_tac_toe", 3, 3), "pettingzoo/tictactoe": ("tic_tac_toe", 3, 3)}
PIECES = {".": 0, "x": 1, "o": 2}  # OpenSpiel's board text: empty, seat 0, seat 1


class ReplayError(UsageError):
    """A stored game that cannot be replayed: stored without moves, or its moves do not replay."""


def hidden_information(game: Any) -> bool:
    """Whether seats see different things (cards, dice): such a game's state is not shown before its end."""
    native = game.info.native_game
    if native is not None:
        import pyspiel

        return native.get_type().information != pyspiel.GameType.Information.PERFECT_INFORMATION
    support = getattr(game, "opening_support", None)
    why = support() if callable(support) else None
    return why is not None and "hidden" in why


def board(game: Any) -> dict[str, Any] | None:
    """The board of a Connect Four or tic-tac-toe game as {kind, rows, cols, cells}: cells[r][c] is 0 (empty), 1
    (seat 0) or 2 (seat 1), top row first; None for every other game."""
    known = BOARDS.get(family(game.info.env_id))
    if known is None:
        return None
    kind, rows, cols = known
    raw = getattr(game, "raw", None)
    if raw is not None:  # PettingZoo: a flat list, row-major for Connect Four, column-major for tic-tac-toe
        flat = [int(v) for v in getattr(raw.board, "squares", raw.board)]
        cells = ([[flat[r * cols + c] for c in range(cols)] for r in range(rows)] if kind == "connect_four"
                 else [[flat[c * rows + r] for c in range(cols)] for r in range(rows)])
    else:
        lines = [line for line in str(game.native_state()).splitlines() if line.strip()]
        cells = [[PIECES.get(ch, 0) for ch in line.strip()] for line in lines[:rows]]
    return {"kind": kind, "rows": rows, "cols": cols, "cells": cells}


def cell_action(game: Any, row: int, col: int) -> int:
    """The action that plays cell (row, col) of a drawn board: the column in Connect Four, the square in
    tic-tac-toe (PettingZoo numbers squares by column, OpenSpiel by row)."""
    kind, rows, cols = BOARDS[family(game.info.env_id)]
    if kind == "connect_four":
        return col
    return col * rows + row if getattr(game, "raw", None) is not None else row * cols + col


def state_text(game: Any, viewer: int | None, over: bool) -> str | None:
    """The state as text: all of it for a game of perfect information or once it is over; otherwise what seat
    `viewer` observes (None: a spectator, who sees the public information only), or None when there is none."""
    state = game.native_state()
    if state is None:
        return None
    if over or not hidden_information(game):
        return str(state)
    kind = game.info.native_game.get_type()
    if viewer is not None:
        if kind.provides_observation_string:
            return state.observation_string(viewer)
        if kind.provides_information_state_string:
            return state.information_state_string(viewer)
        return None
    return _public_text(game, state)


def _public_text(game: Any, state: Any) -> str | None:
    import pyspiel

    try:
        from open_spiel.python.observation import make_observation

        observer = make_observation(game.info.native_game, pyspiel.IIGObservationType(
            perfect_recall=False, public_info=True, private_info=pyspiel.PrivateInfoType.NONE))
        return observer.string_from(state, 0)
    except Exception:  # a game without a public observer shows nothing before its end
        return None


def position(game: Any, *, viewer: int | None = None) -> dict[str, Any]:
    """What a page shows of a game now: whose turn, the text, the board, and whether it is over."""
    over = game.is_over()
    return {"over": over, "to_move": list(game.to_move()) if not over else [],
            "text": state_text(game, viewer, over), "board": board(game),
            "hidden": hidden_information(game) and not over}


def move_text(game: Any, seat: int, action: int) -> str:
    to_string = getattr(game, "action_to_string", None)
    try:
        return to_string(seat, action) if to_string is not None else str(action)
    except Exception:
        return str(action)


class _Script:
    """Plays the stored moves, one per call, and notes the position just before move `at` (the ply asked for)."""

    def __init__(self, game: Any, moves: Sequence[Sequence[int]], at: int):
        self.game, self.moves, self.at = game, moves, at
        self.seen: dict[str, Any] | None = None
        self.texts: list[str] = []

    def act(self, seat: int, history: Any) -> Any:
        ply = len(history)
        # at a simultaneous step the history holds the steps before it; the seats' moves follow in seat order
        n = self.game.info.num_seats
        while ply < len(self.moves) and self.moves[ply][0] != seat and ply - len(history) < n:
            ply += 1
        if ply >= len(self.moves) or self.moves[ply][0] != seat:
            raise ReplayError(f"the stored moves have no move for seat {seat} at ply {len(history) + 1}")
        if ply == self.at:
            self.seen = position(self.game)
        stored = self.moves[ply][1]
        if isinstance(stored, list):  # a continuous action
            self.texts.append(f"seat {seat}: {[round(float(x), 3) for x in stored]}")
            return stored
        action = int(stored)
        self.texts.append(move_text(self.game, seat, action))
        return action


def replay(registry: Any, stored: dict[str, Any], ply: int | None = None) -> dict[str, Any]:
    """A stored game (arena.store.browse.game) re-simulated from its seed, opening and moves, seen at `ply` (moves
    made so far, default: the end). The moves made are named; with hidden information, they and the state stay
    hidden until the last ply, where the result shows."""
    moves = stored["moves"]
    if moves is None:
        raise ReplayError(f"Game {stored['id']} was stored without its moves, so it cannot be replayed "
                          "(store moves with `arena match ... --record-moves`).")
    if stored["status"] != "ok":
        raise ReplayError(f"Game {stored['id']} failed when it was played ({stored['reason']}); nothing to replay.")
    plies = len(moves)
    at = plies if ply is None else ply
    if not 0 <= at <= plies:
        raise ReplayError(f"Ply {ply} is outside game {stored['id']}, which has {plies} moves (0 to {plies}).")
    game = registry.make_game(stored["env"])
    try:
        if game.info.match_seats(len(stored["seats"])) is None:
            raise ReplayError(f"Game {stored['id']} has {len(stored['seats'])} seats, {stored['env']} "
                              f"{game.info.num_seats}.")
        opening = tuple(stored["opening"])
        script = _Script(game, moves, at)
        # each seat plays its stored moves: one script shared by all seats (the history tells whose move it is)
        policies = [BoundPolicy(seat["player"], script) for seat in stored["seats"]]
        # the player of each game seat: its own, or its team's where one player played each team
        by_team = len(policies) != game.info.num_seats
        owner = {s: t for t, team in enumerate(game.info.teams) for s in team} if by_team else \
            {s: s for s in range(game.info.num_seats)}
        result = play_game(game, policies, int(stored["seed"]), opening=opening)
        if result.error or result.forfeits or len(result.trajectory) != plies:
            why = result.error or "; ".join(result.forfeits.values()) or "the game ended before its stored moves did"
            raise ReplayError(f"Game {stored['id']} does not replay: {why}.")
        over = at == plies
        seen = position(game) if over else script.seen
        if seen is None:  # a ply inside the opening, which no policy played
            replay_opening(game, opening[:at], int(stored["seed"]))
            seen = position(game)
        hidden = hidden_information(game)
        names = [None] * len(opening) + script.texts
        shown = moves[:at] if not hidden or over else []
        doc = {"id": stored["id"], "env": stored["env"], "seed": stored["seed"], "event": stored["event"],
               "played_at": stored["played_at"], "players": [s["player"] for s in stored["seats"]],
               "plies": plies, "ply": at, "opening": len(opening), "hidden": hidden and not over,
               "moves": [{"ply": i + 1, "seat": s, "player": policies[owner[s]].player_id, "action": a,
                          "text": names[i] if names[i] is not None else move_text(game, s, a)}
                         for i, (s, a) in enumerate(shown)],
               "position": seen, "result": None}
        if over:
            doc["result"] = [{"seat": s["seat"], "player": s["player"], "score": result.score(s["seat"]),
                              "outcome": result.outcome(s["seat"]) if game.info.num_seats > 1 else None,
                              "return": result.returns[s["seat"]], "stored_score": s["score"]}
                             for s in stored["seats"]]
            if any(abs(r["score"] - (r["stored_score"] or 0)) > 1e-9 for r in doc["result"]):
                raise ReplayError(f"Game {stored['id']} replays to another outcome than the one stored.")
        return doc
    finally:
        game.close()
