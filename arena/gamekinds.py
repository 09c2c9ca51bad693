"""What kind of game a search (or a search-built feature) needs: checks shared by MCTS, alpha-beta, PUCT and the
lookahead features, in one line each when the game does not fit."""
from __future__ import annotations

from arena.ids import base_name
from arena.types import GameInfo


def needs_native_turn_based(game: GameInfo, who: str) -> str | None:
    """Why `who` cannot search this game, or None when it can: it needs a turn-based OpenSpiel game of full information."""
    if not game.has_native_state:
        base = base_name(game.env_id)
        return (f"{who} needs the game's native state, which only OpenSpiel games provide "
                f"(try `arena envs` for an openspiel/ version of {base!r})")
    import pyspiel

    kind = game.native_game.get_type()
    if kind.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        return f"{who} plays turn-based games only, and this one has simultaneous moves"
    if kind.information != pyspiel.GameType.Information.PERFECT_INFORMATION:
        return f"{who} would search the hidden information of this imperfect-information game"
    if kind.reward_model != pyspiel.GameType.RewardModel.TERMINAL:
        return f"{who} needs a game whose rewards come at the end"
    return None


def needs_two_player_deterministic(game: GameInfo, who: str) -> str | None:
    """Why `who` (a minimax-style search) cannot search this game, or None: on top of `needs_native_turn_based`, it
    needs two players, zero-sum, and no chance events."""
    reason = needs_native_turn_based(game, who)
    if reason:
        return reason
    import pyspiel

    kind = game.native_game.get_type()
    if game.num_seats != 2 or kind.utility != pyspiel.GameType.Utility.ZERO_SUM:
        return f"{who} needs a two-player zero-sum game"
    if kind.chance_mode != pyspiel.GameType.ChanceMode.DETERMINISTIC:
        return f"{who} needs a game without chance events"
    return None
