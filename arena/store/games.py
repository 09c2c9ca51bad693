"""Read-side query of stored games as replayable records (seed, opening, moves, who sat where and how each seat
ended), streamed in commit order: what a dataset export replays. It writes nothing and adds no table."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arena.store.db import Store

PAGE = 500  # matches fetched (with their participants) per query


@dataclass(frozen=True)
class Seat:
    player: str
    score: float  # 1 win, 0.5 draw, 0 loss (free-for-all: share of the others beaten)
    ret: float | None  # the seat's return
    forfeit: str | None


@dataclass(frozen=True)
class StoredGame:
    """One stored game, enough to replay it: moves are [(seat, action), ...] from the start, opening included (None
    when the game was stored without its moves)."""

    seq: int
    id: str
    seed: int
    moves: list[tuple[int, int]] | None
    opening: tuple[int, ...]
    replay_of: int | None  # the seq of an identical earlier game, or None
    seats: tuple[Seat, ...]


def count_games(store: Store, env: str, *, event: str | None = None, players: Sequence[str] = ()) -> int:
    """How many ok games of `env` the same filters as `games` select."""
    where, args = _where(env, event, players)
    return int(store.db.execute(f"SELECT COUNT(*) FROM matches m WHERE {where}", args).fetchone()[0])


def games(store: Store, env: str, *, event: str | None = None, players: Sequence[str] = (),
          page: int = PAGE) -> Iterator[StoredGame]:
    """The ok games of `env` (of one event when given; with `players`, those where at least one of them sat), in
    commit order, fetched a page at a time."""
    where, args = _where(env, event, players)
    after = -1
    conn = store.db.conn
    while True:
        rows = conn.execute(f"SELECT seq, id, seed, moves, opening, replay_of FROM matches m WHERE {where} "
                            "AND seq > ? ORDER BY seq LIMIT ?", [*args, after, page]).fetchall()
        if not rows:
            return
        seqs = [r[0] for r in rows]
        seats: dict[int, list[tuple[int, Seat]]] = {}
        for seq, seat, player, score, ret, forfeit in conn.execute(
                f"SELECT match_seq, seat, player, score, return, forfeit FROM participants "
                f"WHERE match_seq IN ({','.join('?' * len(seqs))})", seqs):
            seats.setdefault(seq, []).append((seat, Seat(player, float(score), ret, forfeit)))
        for seq, mid, seed, moves, opening, replay_of in rows:
            yield StoredGame(seq, mid, int(seed) if seed is not None else 0,
                             [(int(s), int(a)) for s, a in json.loads(moves)] if moves else None,
                             tuple(int(a) for a in json.loads(opening)) if opening else (), replay_of,
                             tuple(s for _, s in sorted(seats.get(seq, []), key=lambda x: x[0])))
        after = seqs[-1]


def _where(env: str, event: str | None, players: Sequence[str]) -> tuple[str, list[object]]:
    where, args = "m.env = ? AND m.status = 'ok'", [env]
    if event is not None:
        where += " AND m.event = ?"
        args.append(event)
    if players:
        where += (" AND EXISTS (SELECT 1 FROM participants p WHERE p.match_seq = m.seq "
                  f"AND p.player IN ({','.join('?' * len(players))}))")
        args += list(players)
    return where, args
