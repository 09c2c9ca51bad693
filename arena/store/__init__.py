"""The SQLite store, the only place that runs SQL: one module per aggregate (matches and ratings, leagues,
tournaments), each with its tables, migration and queries; arena.store.db opens, migrates and writes transactions."""
from arena.store.db import BUSY_TIMEOUT_MS, Store, StoreError, migrations
from arena.store.matches import (RANK_BY, Recorded, RatingSystem, Skill, game_id, match_id, tournament_event,
                                 write_players)
from arena.store.rankings import (Rating, head_to_head, history, leaderboard, payoff, player_ratings, resolve_env,
                                  resolve_player, return_board, skills, stored_envs)

__all__ = ["BUSY_TIMEOUT_MS", "RANK_BY", "Rating", "RatingSystem", "Recorded", "Skill", "Store", "StoreError",
           "game_id", "head_to_head", "history", "leaderboard", "match_id", "migrations", "payoff", "player_ratings",
           "resolve_env", "resolve_player", "return_board", "skills", "stored_envs", "tournament_event", "write_players"]
