"""Tournaments: their schema (m003) and storage: settings, each round's pairings, and the games stored for them.

A tournament's matches carry the event tag `tournament:NAME` (arena.store.matches.tournament_event). The pairing and
tally logic, and the TournamentSpec and Pairing types these functions take and return, live in arena.tournament.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlite_utils

from arena.store.matches import run_script, tournament_event
from arena.store.rankings import skills  # noqa: F401  (a tournament report's ratings: one query, in rankings)

if TYPE_CHECKING:
    from arena.store.db import Store
    from arena.tournament import Pairing, TournamentSpec


def m003_tournaments(db: sqlite_utils.Database) -> None:
    run_script(db, """
    CREATE TABLE tournaments (          -- its games are stored with league = 'tournament:' || name
        name TEXT PRIMARY KEY,
        env TEXT NOT NULL,
        format TEXT NOT NULL,           -- 'round-robin' | 'gauntlet' | 'swiss'
        players TEXT NOT NULL,          -- JSON list of policy specs, in seeding order
        rounds INTEGER NOT NULL,
        games_per_pair INTEGER NOT NULL,
        seed INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE tournament_pairings (  -- a round's pairings, fixed before its first game; b is NULL for a bye
        tournament TEXT NOT NULL REFERENCES tournaments(name),
        round INTEGER NOT NULL,
        slot INTEGER NOT NULL,
        a TEXT NOT NULL,
        b TEXT,
        PRIMARY KEY (tournament, round, slot)
    );
    """)


def m009_tournament_openings(db: sqlite_utils.Database) -> None:
    """The openings spec a tournament's games start from, so that its report (and a resume) can rebuild them."""
    run_script(db, "ALTER TABLE tournaments ADD COLUMN openings TEXT;")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load(store: Store, name: str) -> TournamentSpec | None:
    from arena.tournament import TournamentSpec  # the type lives with the tournament logic, which imports the store

    row = next(store.db.query("SELECT * FROM tournaments WHERE name = ?", [name]), None)
    if row is None:
        return None
    return TournamentSpec(row["name"], row["env"], tuple(json.loads(row["players"])), row["format"], row["rounds"],
                          row["games_per_pair"], row["seed"], row.get("openings"))


def create(store: Store, spec: TournamentSpec) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO tournaments (name, env, format, players, rounds, games_per_pair, seed, openings, "
                     "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (spec.name, spec.env, spec.format, json.dumps(list(spec.players)), spec.rounds,
                      spec.games_per_pair, spec.seed, spec.openings, _now()))


def stored_pairings(store: Store, name: str, round_: int) -> list[Pairing]:
    from arena.tournament import Pairing

    rows = store.db.query("SELECT * FROM tournament_pairings WHERE tournament = ? AND round = ? ORDER BY slot",
                          [name, round_])
    return [Pairing(r["round"], r["slot"], r["a"], r["b"]) for r in rows]


def save_pairings(store: Store, name: str, pairings: Sequence[Pairing]) -> None:
    with store.transaction() as conn:
        conn.executemany("INSERT INTO tournament_pairings (tournament, round, slot, a, b) VALUES (?, ?, ?, ?, ?)",
                         [(name, p.round, p.slot, p.a, p.b) for p in pairings])


def finish(store: Store, name: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE tournaments SET finished_at = ? WHERE name = ? AND finished_at IS NULL", (_now(), name))


def stored_games(store: Store, spec: TournamentSpec) -> dict[str, dict[str, float] | None]:
    """match id -> {player: score} for each stored game of the tournament (None for a game that failed)."""
    out: dict[str, dict[str, float] | None] = {}
    rows = store.db.query("SELECT m.id, m.status, p.player, p.score FROM matches m "
                          "JOIN participants p ON p.match_seq = m.seq WHERE m.event = ?", [spec.event])
    for r in rows:
        if r["status"] != "ok":
            out[r["id"]] = None
            continue
        scores = out.setdefault(r["id"], {})
        assert scores is not None
        scores[r["player"]] = r["score"]
    return out


def list_tournaments(store: Store) -> list[dict[str, Any]]:
    """Every stored tournament, oldest first: its settings (players as a list), created_at, finished_at (None while
    unfinished) and `games`, the number of its matches stored."""
    if not store.db["tournaments"].exists():  # a store never written by a tournament-aware Arena, opened read-only
        return []
    rows = list(store.db.query(
        "SELECT t.name, t.env, t.format, t.players, t.rounds, t.games_per_pair, t.seed, t.created_at, t.finished_at, "
        "(SELECT COUNT(*) FROM matches m WHERE m.event = :prefix || t.name) AS games "
        "FROM tournaments t ORDER BY t.created_at", {"prefix": tournament_event("")}))
    for r in rows:
        r["players"] = json.loads(r["players"])
    return rows
