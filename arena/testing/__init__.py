"""Conformance checks for game and policy plugins: Arena's counterpart of PettingZoo's `api_test`.

Each check is a plain function that plays a few games and returns a list of `Failure`s, one line per problem
(what failed, on which seed and move, and what to fix); an empty list means the check passed. A plugin author
calls them from a test, or runs them all with `arena check ENV [POLICY...]`:

    from arena.testing import assert_passes, check_game, check_policy, registry_with
    import mygame.plugin

    def test_my_game_conforms():
        reg = registry_with(mygame.plugin)
        assert_passes(check_game(reg, "mygame/nim-v0"))
        assert_passes(check_policy(reg, "mygame/nim-v0", "mygame/greedy"))

What is checked:
- game: random games reach the end through Arena's adapter; at every step the seats to move, the legal actions,
  the action mask and the observation agree with each other and with GameInfo; returns are finite floats and the
  ranks follow them (`check_random_games`); the same seed replays the same game, on the same object and on a fresh
  one, and other seeds give other games (`check_seeds`); PettingZoo's own `api_test` or `parallel_api_test` passes
  on the env exactly as the factory builds it (`check_pettingzoo_api`).
- policy: in every seat, beside `random` opponents, it plays only legal moves and the game ends cleanly; a fresh
  instance replays the same game from the same seed; or it declines the game up front, in one line that names the
  game, and the match runner refuses to seat it (`check_policy`).

An id that no plugin registered, or a malformed spec, raises the usual ArenaError (a user error). Anything a
plugin does wrong, crashes included, becomes a Failure, never a traceback.
"""
from __future__ import annotations

from arena.testing.checks import (Report, check_all, check_game, check_pettingzoo_api, check_policy,
                                  check_policy_support, check_random_games, check_seeds, declined)
from arena.testing.core import (OPPONENT, CheckedGame, ConformanceError, Failure, assert_passes, is_pettingzoo,
                                play_checked, raw_env, registry_with)

__all__ = [
    "OPPONENT", "CheckedGame", "ConformanceError", "Failure", "Report", "assert_passes", "check_all", "check_game",
    "check_pettingzoo_api", "check_policy", "check_policy_support", "check_random_games", "check_seeds", "declined",
    "is_pettingzoo", "play_checked", "raw_env", "registry_with",
]
