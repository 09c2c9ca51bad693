"""A league's state in the store: its pool, payoff table and rounds. Everything a resume needs lives here.

Round r is written twice: phase 'trained' (opponent tables, training scores, the learners' new frozen copies and
checkpoints, the payoff update) in one transaction after training, and phase 'done' (evaluation scores, snapshots
that joined the pool) after its evaluation matches are stored. A run killed in between re-plays only the
evaluation, whose matches are stored at most once by their ids.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from .errors import ArenaError
from .pool import Member, Payoff, Pool


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class LeagueStateError(ArenaError):
    exit_code = 2


def get(store: Any, name: str) -> dict[str, Any] | None:
    row = store.db.execute("SELECT name, env, file, config, status, stop_reason, elapsed_s, created_at, updated_at "
                           "FROM leagues WHERE name = ?", [name]).fetchone()
    keys = ("name", "env", "file", "config", "status", "stop_reason", "elapsed_s", "created_at", "updated_at")
    return dict(zip(keys, row)) if row else None


def names(store: Any) -> list[str]:
    return [r[0] for r in store.db.execute("SELECT name FROM leagues ORDER BY name")]


def start(store: Any, league: Any, members: list[Member], *, resume: bool) -> dict[str, Any]:
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
                         "updated_at = ? WHERE name = ?", [str(league.path), league.text, _now(), league.name])
        else:
            conn.execute("INSERT INTO leagues (name, env, file, config, status, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, 'running', ?, ?)",
                         [league.name, league.env, str(league.path), league.text, _now(), _now()])
        for m in members:  # new fixed players and learners join; existing rows keep their state
            _add_member(conn, league.name, m)
        fixed = [m.id for m in members if m.kind == "fixed"]  # players dropped from the file leave matchmaking
        marks = ",".join("?" * len(fixed)) or "NULL"
        conn.execute(f"UPDATE league_members SET active = (id IN ({marks})) WHERE league = ? AND kind = 'fixed'",
                     [*fixed, league.name])
    return get(store, league.name) or {}


def pool(store: Any, name: str, *, active_only: bool = True) -> Pool:
    sql = ("SELECT id, kind, learner, role, round, parent, iteration, steps, policy FROM league_members "
           "WHERE league = ?" + (" AND active = 1" if active_only else "") + " ORDER BY kind, round, id")
    return Pool(tuple(Member(*row) for row in store.db.execute(sql, [name])))


def payoff(store: Any, name: str, decay: float) -> Payoff:
    rows = store.db.execute("SELECT learner, opponent, score, games FROM league_payoff WHERE league = ?", [name])
    return Payoff.from_rows([dict(zip(("learner", "opponent", "score", "games"), r)) for r in rows], decay=decay)


def rounds(store: Any, name: str) -> list[dict[str, Any]]:
    return [{"round": r, "phase": p, **json.loads(s), "at": at} for r, p, s, at in store.db.execute(
        "SELECT round, phase, summary, at FROM league_rounds WHERE league = ? ORDER BY round", [name])]


def rounds_done(store: Any, name: str) -> int:
    row = store.db.execute("SELECT max(round) FROM league_rounds WHERE league = ? AND phase = 'done'", [name])
    return int(row.fetchone()[0] or 0)


def round_phase(store: Any, name: str, round_: int) -> str | None:
    row = store.db.execute("SELECT phase FROM league_rounds WHERE league = ? AND round = ?", [name, round_]).fetchone()
    return row[0] if row else None


def commit_trained(store: Any, name: str, round_: int, summary: dict[str, Any], learners: list[Member],
                   copies: list[dict[str, Any]], payoff_: Payoff, elapsed_s: float) -> None:
    """After training: the learners' new state and frozen copies, the payoff table, phase 'trained'."""
    with store.transaction() as conn:
        for m in learners:
            conn.execute("UPDATE league_members SET round = ?, iteration = ?, steps = ?, policy = ?, parent = ? "
                         "WHERE league = ? AND id = ?", [m.round, m.iteration, m.steps, m.policy, m.parent, name, m.id])
        for c in copies:  # the copies are players of the store (rated by evaluation), not yet pool members
            conn.execute("INSERT OR REPLACE INTO players (id, kind, env, parent, iteration, steps, checkpoint, "
                         "created_at) VALUES (?, 'snapshot', ?, ?, ?, ?, ?, ?)",
                         [c["id"], c["env"], c["parent"], c["iteration"], c["steps"], c["checkpoint"], _now()])
        for r in payoff_.rows():
            conn.execute("INSERT OR REPLACE INTO league_payoff (league, learner, opponent, score, games) "
                         "VALUES (?, ?, ?, ?, ?)", [name, r["learner"], r["opponent"], r["score"], r["games"]])
        conn.execute("INSERT OR REPLACE INTO league_rounds (league, round, phase, summary, at) "
                     "VALUES (?, ?, 'trained', ?, ?)", [name, round_, json.dumps(summary), _now()])
        conn.execute("UPDATE leagues SET elapsed_s = ?, updated_at = ? WHERE name = ?", [elapsed_s, _now(), name])


def commit_done(store: Any, name: str, round_: int, summary: dict[str, Any], joined: list[Member],
                retired: list[str], elapsed_s: float) -> None:
    """After evaluation: snapshots that joined the pool (and ones past max_pool retired), phase 'done'."""
    with store.transaction() as conn:
        for m in joined:
            _add_member(conn, name, m)
        for id_ in retired:
            conn.execute("UPDATE league_members SET active = 0 WHERE league = ? AND id = ?", [name, id_])
        conn.execute("UPDATE league_rounds SET phase = 'done', summary = ?, at = ? WHERE league = ? AND round = ?",
                     [json.dumps(summary), _now(), name, round_])
        conn.execute("UPDATE leagues SET elapsed_s = ?, updated_at = ? WHERE name = ?", [elapsed_s, _now(), name])


def _add_member(conn: Any, league: str, m: Member) -> None:
    conn.execute("INSERT OR IGNORE INTO league_members (league, id, kind, learner, role, round, parent, iteration, "
                 "steps, policy) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 [league, m.id, m.kind, m.learner, m.role, m.round, m.parent, m.iteration, m.steps, m.policy])


def finish(store: Any, name: str, status: str, reason: str, elapsed_s: float) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE leagues SET status = ?, stop_reason = ?, elapsed_s = ?, updated_at = ? WHERE name = ?",
                     [status, reason, elapsed_s, _now(), name])
