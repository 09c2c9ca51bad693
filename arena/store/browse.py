"""Read-side queries for browsing the store (the web app's pages): one player's row, lineage and opponents, a page of
stored games with filters, and one stored game with its seats and moves. It writes nothing and adds no table."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from arena.store.matches import PLAYER_FIELDS

if TYPE_CHECKING:
    from arena.store.db import Store

MAX_PAGE = 200  # games per page at most


def rated_envs(store: Store) -> list[str]:
    """The envs with at least one rated player, from the ratings table (a few rows, not every match)."""
    return [row[0] for row in store.db.execute("SELECT DISTINCT env FROM ratings ORDER BY env")]


def player(store: Store, id: str) -> dict[str, Any] | None:
    """A player's row (kind, env, params, lineage: parent, iteration, steps, checkpoint), or None."""
    row = store.db.execute(f"SELECT {', '.join(PLAYER_FIELDS)} FROM players WHERE id = ?", [id]).fetchone()
    if row is None:
        return None
    doc = dict(zip(PLAYER_FIELDS, row))
    doc["params"] = json.loads(doc["params"]) if doc["params"] else {}
    return doc


def children(store: Store, id: str) -> list[dict[str, Any]]:
    """The players whose parent is `id` (snapshots taken from it), oldest first."""
    return [{"id": i, "iteration": it, "steps": st, "created_at": at} for i, it, st, at in store.db.execute(
        "SELECT id, iteration, steps, created_at FROM players WHERE parent = ? ORDER BY created_at, id", [id])]


def snapshots(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """The newest stored snapshots (players of kind 'snapshot'): id and env."""
    return [{"id": i, "env": e} for i, e in store.db.execute(
        "SELECT id, env FROM players WHERE kind = 'snapshot' ORDER BY created_at DESC, id LIMIT ?", [int(limit)])]


def memberships(store: Store, id: str) -> list[dict[str, Any]]:
    """The league pool entries of a player: as a member itself, or as the policy a learner plays as."""
    fields = ("league", "id", "kind", "learner", "role", "round", "parent", "iteration", "steps", "policy", "active")
    return [dict(zip(fields, row)) for row in store.db.execute(
        f"SELECT {', '.join(fields)} FROM league_members WHERE id = ? OR policy = ? ORDER BY league, round",
        [id, id])]


def opponents(store: Store, id: str, env: str | None = None) -> list[dict[str, Any]]:
    """A player's head-to-head record against every opponent it met (rows as rankings.head_to_head gives them),
    by env, then most games first."""
    sql = ("SELECT env, a, b, games, a_wins, draws, b_wins FROM pairs WHERE (a = ? OR b = ?)"
           + (" AND env = ?" if env else ""))
    out = []
    for e, a, b, games, a_wins, draws, b_wins in store.db.execute(sql, [id, id, *([env] if env else [])]):
        first = a == id
        wins, losses = (a_wins, b_wins) if first else (b_wins, a_wins)
        out.append({"env": e, "player": id, "opponent": b if first else a, "games": games, "wins": wins,
                    "draws": draws, "losses": losses, "score": (wins + draws / 2) / games if games else None})
    return sorted(out, key=lambda r: (r["env"], -r["games"], r["opponent"]))


GAME_FIELDS = ("seq", "id", "env", "event", "seed", "played_at", "status", "reason", "length", "replay_of")


def list_games(store: Store, *, env: str | None = None, player: str | None = None, event: str | None = None,
               before: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Stored games, newest first, with their seats: of one env, one player and one event (a league's name or
    'tournament:NAME') when given; `before` a seq continues a page. Every value is a bound parameter."""
    limit = max(1, min(int(limit), MAX_PAGE))
    where, args = [], []
    for column, value in (("m.env", env), ("m.event", event)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if before is not None:
        where.append("m.seq < ?")
        args.append(int(before))
    cols = ", ".join(f"m.{f}" for f in GAME_FIELDS) + ", m.moves IS NOT NULL"
    if player is not None:  # walk the player's index (player, match_seq) newest first
        sql = (f"SELECT DISTINCT {cols} FROM participants p JOIN matches m ON m.seq = p.match_seq WHERE p.player = ?"
               + "".join(f" AND {w}" for w in where) + " ORDER BY p.match_seq DESC LIMIT ?")
        args = [player, *args, limit]
    else:
        sql = f"SELECT {cols} FROM matches m" + (" WHERE " + " AND ".join(where) if where else "") + \
            " ORDER BY m.seq DESC LIMIT ?"
        args.append(limit)
    games = [{**dict(zip(GAME_FIELDS, row[:-1])), "has_moves": bool(row[-1])} for row in store.db.execute(sql, args)]
    seats = _seats(store, [g["seq"] for g in games])
    for g in games:
        g["seats"] = seats.get(g["seq"], [])
    return games


def game(store: Store, id: str) -> dict[str, Any] | None:
    """One stored game by its match id: its row, its seats in order, its moves ([[seat, action], ...] or None) and
    opening ([action, ...])."""
    row = store.db.execute(f"SELECT {', '.join(GAME_FIELDS)}, moves, opening, duration_s FROM matches WHERE id = ?",
                           [id]).fetchone()
    if row is None:
        return None
    doc = dict(zip(GAME_FIELDS, row[:len(GAME_FIELDS)]))
    moves, opening, duration = row[len(GAME_FIELDS):]
    doc["moves"] = [[int(s), a if isinstance(a, list) else int(a)] for s, a in json.loads(moves)] if moves else None
    doc["opening"] = [int(a) for a in json.loads(opening)] if opening else []
    doc["duration_s"] = duration
    doc["seats"] = _seats(store, [doc["seq"]]).get(doc["seq"], [])
    return doc


def _seats(store: Store, seqs: list[int]) -> dict[int, list[dict[str, Any]]]:
    if not seqs:
        return {}
    out: dict[int, list[dict[str, Any]]] = {}
    for seq, seat, team, who, score, rank, ret, forfeit in store.db.execute(
            "SELECT match_seq, seat, team, player, score, rank, return, forfeit FROM participants "
            f"WHERE match_seq IN ({','.join('?' * len(seqs))}) ORDER BY match_seq, seat", seqs):
        out.setdefault(seq, []).append({"seat": seat, "team": team, "player": who, "score": score, "rank": rank,
                                        "return": ret, "forfeit": forfeit})
    return out
