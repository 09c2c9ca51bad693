"""Leagues: their schema (m002) and state in the store: pool, payoff table and rounds. Everything a resume needs.

Round r is written twice: phase 'trained' (opponent tables, training scores, the learners' new frozen copies and
checkpoints, the payoff update) in one transaction after training, and phase 'done' (evaluation scores, snapshots
that joined the pool) after its evaluation matches are stored. A run killed in between re-plays only the
evaluation, whose matches are stored at most once by their ids. A league's matches carry its name as their event.
"""
from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

import sqlite_utils

from arena.errors import ArenaError
from arena.pool import Member, Payoff, Pool
from arena.store.matches import now, run_script, write_players
from arena.store.rankings import player_ratings, skills  # noqa: F401  (a league's ratings: one query, in rankings)

if TYPE_CHECKING:
    from arena.store.db import Store


def m002_leagues(db: sqlite_utils.Database) -> None:
    run_script(db, """
    CREATE TABLE leagues (
        name TEXT PRIMARY KEY,
        env TEXT NOT NULL,
        file TEXT NOT NULL,             -- the league file's path and text when it last (re)started
        config TEXT NOT NULL,
        status TEXT NOT NULL,           -- 'running' | 'stopped' | 'finished'
        stop_reason TEXT,
        elapsed_s REAL NOT NULL DEFAULT 0,  -- wall time over all runs, for the minutes stop rule
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE league_members (       -- the pool: learners, frozen snapshots with lineage, fixed players
        league TEXT NOT NULL REFERENCES leagues(name),
        id TEXT NOT NULL,
        kind TEXT NOT NULL,             -- 'learner' | 'snapshot' | 'fixed'
        learner TEXT, role TEXT,
        round INTEGER NOT NULL DEFAULT 0,
        parent TEXT,
        iteration INTEGER NOT NULL DEFAULT 0,
        steps INTEGER NOT NULL DEFAULT 0,
        policy TEXT,                    -- what plays a learner: its latest frozen copy
        active INTEGER NOT NULL DEFAULT 1,  -- 0: a snapshot past max_pool, rated but out of matchmaking
        PRIMARY KEY (league, id)
    );
    CREATE TABLE league_rounds (        -- phase 'trained' is committed before evaluation, 'done' after it
        league TEXT NOT NULL REFERENCES leagues(name),
        round INTEGER NOT NULL,
        phase TEXT NOT NULL,
        summary TEXT NOT NULL,          -- JSON: opponent tables, training scores, evaluation scores, snapshots
        at TEXT NOT NULL,
        PRIMARY KEY (league, round)
    );
    CREATE TABLE league_payoff (        -- decayed training scores of each learner against each opponent
        league TEXT NOT NULL REFERENCES leagues(name),
        learner TEXT NOT NULL,
        opponent TEXT NOT NULL,
        score REAL NOT NULL,
        games REAL NOT NULL,
        PRIMARY KEY (league, learner, opponent)
    );
    """)


def m008_league_runs(db: sqlite_utils.Database) -> None:
    """leagues.run: the process running a league and the processes it started, so a killed run's can be stopped."""
    run_script(db, """
    -- leagues.run: JSON {host, boot, pid, start, children: [[pid, start, name], ...]} (arena.processes) of the
    --   run in progress; NULL once it has ended. A run whose own process is gone was killed.
    ALTER TABLE leagues ADD COLUMN run TEXT;
    """)


class LeagueStateError(ArenaError):
    exit_code = 2


LEAGUE_FIELDS = ("name", "env", "file", "config", "status", "stop_reason", "elapsed_s", "created_at", "updated_at",
                 "run")


def get(store: Store, name: str) -> dict[str, Any] | None:
    row = store.db.execute(f"SELECT {', '.join(LEAGUE_FIELDS)} FROM leagues WHERE name = ?", [name]).fetchone()
    if row is None:
        return None
    doc = dict(zip(LEAGUE_FIELDS, row))
    doc["run"] = json.loads(doc["run"]) if doc["run"] else None
    return doc


def set_run(store: Store, name: str, run: dict[str, Any] | None) -> None:
    """Record the processes of the run in progress (arena.processes.record()), or None once they are gone."""
    with store.transaction() as conn:
        conn.execute("UPDATE leagues SET run = ? WHERE name = ?", [json.dumps(run) if run else None, name])


def names(store: Store) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT name FROM leagues ORDER BY name")]


def start(store: Store, league: Any, members: list[Member], *, resume: bool) -> dict[str, Any]:
    """Create the league's rows, or (resume) mark it running again; returns its row."""
    existing = get(store, league.name)
    if existing and not resume:
        raise LeagueStateError(
            f"League {league.name!r} already exists in {store.path} ({rounds_done(store, league.name)} rounds). "
            "Continue it with --resume, or give the copy another name or --db.")
    if existing and existing["env"] != league.env:
        raise LeagueStateError(f"League {league.name!r} in {store.path} plays {existing['env']}, this file "
                               f"{league.env}; give the copy another name.")
    with store.transaction() as conn:
        if existing:
            conn.execute("UPDATE leagues SET file = ?, config = ?, status = 'running', stop_reason = NULL, "
                         "updated_at = ? WHERE name = ?", [str(league.path), league.text, now(), league.name])
        else:
            conn.execute("INSERT INTO leagues (name, env, file, config, status, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, 'running', ?, ?)",
                         [league.name, league.env, str(league.path), league.text, now(), now()])
        for m in members:  # new fixed players and learners join; existing rows keep their state
            _add_member(conn, league.name, m)
        fixed = [m.id for m in members if m.kind == "fixed"]  # players dropped from the file leave matchmaking
        marks = ",".join("?" * len(fixed)) or "NULL"
        # COALESCE: `id IN (NULL)` is NULL, not false, when the file has no fixed players left
        conn.execute(f"UPDATE league_members SET active = COALESCE(id IN ({marks}), 0) WHERE league = ? "
                     "AND kind = 'fixed'",
                     [*fixed, league.name])
    return get(store, league.name) or {}


def pool(store: Store, name: str, *, active_only: bool = True) -> Pool:
    sql = ("SELECT id, kind, learner, role, round, parent, iteration, steps, policy FROM league_members "
           "WHERE league = ?" + (" AND active = 1" if active_only else "") + " ORDER BY kind, round, id")
    return Pool(tuple(Member(*row) for row in store.db.execute(sql, [name])))


def payoff(store: Store, name: str, decay: float) -> Payoff:
    rows = store.db.execute("SELECT learner, opponent, score, games FROM league_payoff WHERE league = ?", [name])
    return Payoff.from_rows([dict(zip(("learner", "opponent", "score", "games"), r)) for r in rows], decay=decay)


def rounds(store: Store, name: str) -> list[dict[str, Any]]:
    return [{"round": r, "phase": p, **json.loads(s), "at": at} for r, p, s, at in store.db.execute(
        "SELECT round, phase, summary, at FROM league_rounds WHERE league = ? ORDER BY round", [name])]


def rounds_done(store: Store, name: str) -> int:
    row = store.db.execute("SELECT max(round) FROM league_rounds WHERE league = ? AND phase = 'done'", [name])
    return int(row.fetchone()[0] or 0)


def round_phase(store: Store, name: str, round_: int) -> str | None:
    row = store.db.execute("SELECT phase FROM league_rounds WHERE league = ? AND round = ?", [name, round_]).fetchone()
    return row[0] if row else None


def match_count(store: Store, name: str) -> int:
    """How many matches the league has stored (its evaluation games)."""
    return int(store.db.execute("SELECT count(*) FROM matches WHERE event = ?", [name]).fetchone()[0])


def games_between(store: Store, name: str, a: str, b: str) -> int:
    """How many of the league's stored games had both players a and b at the table."""
    return int(store.db.execute(
        "SELECT count(*) FROM matches m WHERE m.event = ? AND "
        "EXISTS (SELECT 1 FROM participants p WHERE p.match_seq = m.seq AND p.player = ?) AND "
        "EXISTS (SELECT 1 FROM participants q WHERE q.match_seq = m.seq AND q.player = ?)", [name, a, b]).fetchone()[0])


def commit_trained(store: Store, name: str, round_: int, summary: dict[str, Any], learners: list[Member],
                   copies: list[dict[str, Any]], payoff_: Payoff, elapsed_s: float) -> None:
    """After training: the learners' new state and frozen copies, the payoff table, phase 'trained'."""
    with store.transaction() as conn:
        for m in learners:
            conn.execute("UPDATE league_members SET round = ?, iteration = ?, steps = ?, policy = ?, parent = ? "
                         "WHERE league = ? AND id = ?", [m.round, m.iteration, m.steps, m.policy, m.parent, name, m.id])
        # the copies are players of the store (rated by evaluation), not yet pool members
        write_players(conn, [{"id": c["id"], "kind": "snapshot", "env": c["env"], "parent": c["parent"],
                              "iteration": c["iteration"], "steps": c["steps"], "checkpoint": c["checkpoint"]}
                             for c in copies], update=True)
        conn.executemany("INSERT OR REPLACE INTO league_payoff (league, learner, opponent, score, games) "
                         "VALUES (?, ?, ?, ?, ?)",
                         [[name, r["learner"], r["opponent"], r["score"], r["games"]] for r in payoff_.rows()])
        conn.execute("INSERT OR REPLACE INTO league_rounds (league, round, phase, summary, at) "
                     "VALUES (?, ?, 'trained', ?, ?)", [name, round_, json.dumps(summary), now()])
        conn.execute("UPDATE leagues SET elapsed_s = ?, updated_at = ? WHERE name = ?", [elapsed_s, now(), name])


def commit_done(store: Store, name: str, round_: int, summary: dict[str, Any], joined: list[Member],
                retired: list[str], elapsed_s: float) -> None:
    """After evaluation: snapshots that joined the pool (and ones past max_pool retired), phase 'done'."""
    with store.transaction() as conn:
        for m in joined:
            _add_member(conn, name, m)
        for id_ in retired:
            conn.execute("UPDATE league_members SET active = 0 WHERE league = ? AND id = ?", [name, id_])
        conn.execute("UPDATE league_rounds SET phase = 'done', summary = ?, at = ? WHERE league = ? AND round = ?",
                     [json.dumps(summary), now(), name, round_])
        conn.execute("UPDATE leagues SET elapsed_s = ?, updated_at = ? WHERE name = ?", [elapsed_s, now(), name])


def _add_member(conn: sqlite3.Connection, league: str, m: Member) -> None:
    conn.execute("INSERT OR IGNORE INTO league_members (league, id, kind, learner, role, round, parent, iteration, "
                 "steps, policy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 [league, m.id, m.kind, m.learner, m.role, m.round, m.parent, m.iteration, m.steps, m.policy])


def finish(store: Store, name: str, status: str, reason: str, elapsed_s: float) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE leagues SET status = ?, stop_reason = ?, elapsed_s = ?, updated_at = ?, run = NULL "
                     "WHERE name = ?", [status, reason, elapsed_s, now(), name])
