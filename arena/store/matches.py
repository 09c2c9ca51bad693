"""Matches and ratings: their schema (m001, m004-m007), storing a match with its rating update, rebuilds, rating settings,
and the one writer of the `players` table. Read-side queries over them live in arena.store.standings."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

import sqlite_utils

from arena.ids import player_params
from arena.types import MatchResult

if TYPE_CHECKING:
    import contextlib
    from pathlib import Path

Skill = tuple[float, float]

# arena.ratings.conservative in SQL, spelt exactly as the ratings_rank index (m001) so that SQLite can use it
RANK_BY = "mu - 3 * sigma"

SETTINGS = ("mu", "sigma", "beta", "tau", "draw_probability")
PLAYER_FIELDS = ("id", "kind", "env", "params", "parent", "iteration", "steps", "checkpoint", "created_at")


def m001_initial(db: sqlite_utils.Database) -> None:
    run_script(db, """
    CREATE TABLE players (
        id TEXT PRIMARY KEY,            -- canonical player id: a policy spec ("mcts:simulations=400") or a snapshot id
        kind TEXT NOT NULL,             -- "policy" | "snapshot" | "learner"
        env TEXT,                       -- the env a snapshot or learner belongs to; NULL for policies
        params TEXT,                    -- JSON object of parameters
        parent TEXT REFERENCES players(id),  -- lineage: the player a snapshot was taken from
        iteration INTEGER,
        steps INTEGER,
        checkpoint TEXT,                -- path of the weights on disk
        created_at TEXT NOT NULL
    );
    CREATE TABLE matches (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- commit order; ratings are replayed in this order
        id TEXT NOT NULL UNIQUE,        -- the match id: storing the same id twice changes nothing
        env TEXT NOT NULL,
        league TEXT,
        seed INTEGER,
        played_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
        reason TEXT,                    -- why, when status is 'error'
        length INTEGER,
        duration_s REAL,
        moves TEXT                      -- JSON [[seat, action], ...] when recorded
    );
    CREATE INDEX matches_env ON matches(env);
    CREATE INDEX matches_league ON matches(league);
    CREATE TABLE participants (
        match_seq INTEGER NOT NULL REFERENCES matches(seq),
        seat INTEGER NOT NULL,
        team INTEGER NOT NULL,
        player TEXT NOT NULL REFERENCES players(id),
        score REAL NOT NULL,            -- 1 win, 0.5 draw, 0 loss; in free-for-all the share of opponents beaten
        rank INTEGER NOT NULL,          -- 0 is best; ties share a rank
        return REAL,
        forfeit TEXT,
        PRIMARY KEY (match_seq, seat)
    );
    CREATE INDEX participants_player ON participants(player, match_seq);
    CREATE TABLE rating_settings (
        env TEXT PRIMARY KEY,
        mu REAL NOT NULL, sigma REAL NOT NULL, beta REAL NOT NULL, tau REAL NOT NULL,
        draw_probability REAL NOT NULL
    );
    CREATE TABLE ratings (              -- current TrueSkill skill and record of each player in each env
        env TEXT NOT NULL,
        player TEXT NOT NULL REFERENCES players(id),
        mu REAL NOT NULL,
        sigma REAL NOT NULL,
        games INTEGER NOT NULL DEFAULT 0,
        wins INTEGER NOT NULL DEFAULT 0,
        draws INTEGER NOT NULL DEFAULT 0,
        losses INTEGER NOT NULL DEFAULT 0,
        last_played TEXT,
        PRIMARY KEY (env, player)
    );
    CREATE INDEX ratings_rank ON ratings(env, (mu - 3 * sigma) DESC);
    CREATE TABLE rating_history (       -- each player's skill after each rated match
        match_seq INTEGER NOT NULL REFERENCES matches(seq),
        env TEXT NOT NULL,
        player TEXT NOT NULL REFERENCES players(id),
        mu REAL NOT NULL,
        sigma REAL NOT NULL,
        PRIMARY KEY (player, match_seq)
    );
    CREATE TABLE pairs (                -- head-to-head totals of every two players (a < b) in each env
        env TEXT NOT NULL,
        a TEXT NOT NULL,
        b TEXT NOT NULL,
        games INTEGER NOT NULL,
        a_wins INTEGER NOT NULL,
        draws INTEGER NOT NULL,
        b_wins INTEGER NOT NULL,
        PRIMARY KEY (env, a, b)
    );
    """)


def m004_match_event(db: sqlite_utils.Database) -> None:
    """matches.league held league names and 'tournament:NAME' values alike: name the column for what it holds."""
    run_script(db, """
    -- matches.event: what a match was played for: a league's name, 'tournament:' || a tournament's name, or NULL
    -- (a plain `arena match`). Values are kept as they were: the match id hashes this tag.
    ALTER TABLE matches RENAME COLUMN league TO event;
    DROP INDEX matches_league;
    CREATE INDEX matches_event ON matches(event);
    """)


def m005_openings(db: sqlite_utils.Database) -> None:
    """matches.opening: the actions a game started from (arena.openings), so a game pair's shared start is kept."""
    run_script(db, """
    -- matches.opening: JSON [action, ...] played from the start before the policies acted; NULL without an opening
    ALTER TABLE matches ADD COLUMN opening TEXT;
    """)


def m006_replays(db: sqlite_utils.Database) -> None:
    """matches.fingerprint and replay_of: an identical game is stored but rated once (distinct evidence)."""
    run_script(db, """
    -- matches.fingerprint: digest of what makes the game (players by seat, every move from the start, and for
    --   games with chance or hidden information the seed too); NULL for games stored before m006 and for errors
    -- matches.replay_of: seq of the first stored game with the same fingerprint in the same env; such a replay is
    --   stored (it was played) but changes no rating, record or pair total, so a deterministic pairing that replays
    --   the same game counts as one piece of evidence, not twenty
    ALTER TABLE matches ADD COLUMN fingerprint TEXT;
    ALTER TABLE matches ADD COLUMN replay_of INTEGER REFERENCES matches(seq);
    CREATE INDEX matches_fingerprint ON matches(env, fingerprint);
    """)


def m007_error_participants(db: sqlite_utils.Database) -> None:
    """participants.score, rank and return are NULL in a game that failed: it had no outcome, and 0.5 read as a draw."""
    run_script(db, """
    -- participants of a match with status 'error' keep who sat where (seat, team, player, forfeit) but have no
    -- score, rank or return: NULL, so that SQL over participants never counts a failed game as a draw
    CREATE TABLE participants_m007 (
        match_seq INTEGER NOT NULL REFERENCES matches(seq),
        seat INTEGER NOT NULL,
        team INTEGER NOT NULL,
        player TEXT NOT NULL REFERENCES players(id),
        score REAL,                     -- 1 win, 0.5 draw, 0 loss; in free-for-all the share of opponents beaten
        rank INTEGER,                   -- 0 is best; ties share a rank
        return REAL,
        forfeit TEXT,
        PRIMARY KEY (match_seq, seat)
    );
    INSERT INTO participants_m007 (match_seq, seat, team, player, score, rank, return, forfeit)
        SELECT p.match_seq, p.seat, p.team, p.player,
               CASE WHEN m.status = 'error' THEN NULL ELSE p.score END,
               CASE WHEN m.status = 'error' THEN NULL ELSE p.rank END,
               CASE WHEN m.status = 'error' THEN NULL ELSE p.return END, p.forfeit
        FROM participants p JOIN matches m ON m.seq = p.match_seq;
    DROP TABLE participants;
    ALTER TABLE participants_m007 RENAME TO participants;
    CREATE INDEX participants_player ON participants(player, match_seq);
    """)


def run_script(db: sqlite_utils.Database, script: str) -> None:
    """Run SQL statements one by one inside the caller's transaction (sqlite3's executescript would COMMIT it
    first, and a process killed halfway through a table rebuild would lose the table)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip() and not all(x.strip().startswith("--") or not x.strip() for x in statement.splitlines()):
        raise ValueError(f"incomplete SQL statement: {statement!r}")


def fingerprint(result: MatchResult) -> str | None:
    """What makes a game that game: players by seat and every move (plus the seed where chance or hidden information
    make the moves alone ambiguous). None when the runner did not report its moves."""
    if not result.trajectory or result.error:
        return None
    key = [result.players, [list(m) for m in result.trajectory], None if result.deterministic else result.seed]
    return hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()[:32]


def rated(players: Sequence[str], teams: Sequence[int]) -> bool:
    """Whether a game moves ratings: two sides or more, and no player on two of them (self-play is not rated)."""
    sides: dict[str, int] = {}
    return len(set(teams)) > 1 and all(sides.setdefault(p, t) == t for p, t in zip(players, teams))


def match_id(result: MatchResult, event: str | None = None) -> str:
    """A match id that depends only on what was played: the same game stored twice is stored once."""
    return game_id(result.env_id, result.players, result.seed, event, result.opening)


def game_id(env: str, players: Sequence[str], seed: int, event: str | None = None,
            opening: Sequence[int] = ()) -> str:
    """The match id of a game before it is played: canonical env and player ids, its seed, its event tag and its
    opening. A game without an opening keeps the id it had before openings existed."""
    parts: list[Any] = [env, list(players), seed, event]
    if opening:
        parts.append([int(a) for a in opening])
    key = json.dumps(parts)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def tournament_event(name: str) -> str:
    """The event tag of a tournament's matches (a league's matches carry the league's name)."""
    return f"tournament:{name}"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RatingSystem(Protocol):
    """What the store needs to rate a match: default settings for a new env, and the update itself."""

    def defaults(self, env: str) -> dict[str, float]: ...

    def rate(self, settings: dict[str, float], teams: Sequence[Sequence[Skill | None]],
             ranks: Sequence[int]) -> list[list[Skill]]:
        """New skills by team (None in `teams` is a player not rated yet)."""


@dataclass(frozen=True)
class Recorded:
    """What record() did: the match's sequence number, or None when the id was already stored."""

    seq: int | None
    id: str
    replay_of: int | None = None  # stored, not rated: the same game as this earlier one

    @property
    def new(self) -> bool:
        return self.seq is not None


def write_players(conn: sqlite3.Connection, players: Iterable[Mapping[str, Any]], *, update: bool) -> None:
    """The one writer of `players`, inside the caller's transaction: add each player (a dict with id, kind and any of
    PLAYER_FIELDS; params as a dict); one already stored keeps its row, or (update) takes the fields given here."""
    by_fields: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for player in players:
        row = {"created_at": now(), **player}
        if "params" in row and row["params"] is not None:
            row["params"] = json.dumps(row["params"])
        unknown = set(row) - set(PLAYER_FIELDS)
        if unknown:
            raise ValueError(f"players has no field {', '.join(sorted(unknown))}")
        by_fields.setdefault(tuple(row), []).append(tuple(row.values()))
    for fields, rows in by_fields.items():
        changed = [f for f in fields if f not in ("id", "created_at")]
        on_conflict = ("DO UPDATE SET " + ", ".join(f"{f} = excluded.{f}" for f in changed)
                       if update and changed else "DO NOTHING")
        conn.executemany(f"INSERT INTO players ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))}) "
                         f"ON CONFLICT (id) {on_conflict}", rows)


class MatchesAndRatings:
    """The Store's methods for matches and ratings (arena.store.db.Store mixes them in; they use its connection,
    its RatingSystem and its transaction())."""

    db: sqlite_utils.Database
    path: Path
    ratings: RatingSystem | None

    def transaction(self, *, commit: bool = True) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def record(self, result: MatchResult, *, event: str | None = None, id: str | None = None,
               teams: Sequence[int] | None = None, kinds: dict[str, str] | None = None) -> Recorded:
        """Store one match with its participants and, when it counts, its rating update, in one transaction.

        `event` is what it was played for (a league's name, 'tournament:NAME'); it is part of the match id.
        A result with `error` is stored with status 'error' and its reason, and changes no rating.
        """
        return self.record_many([(result, {"event": event, "id": id, "teams": teams})], kinds=kinds)[0]

    def record_many(self, items: Iterable[tuple[MatchResult, dict[str, Any]]],
                    kinds: dict[str, str] | None = None) -> list[Recorded]:
        """Store several matches in one transaction (each with its rating update); all or none are written."""
        with self.transaction() as conn:
            return [self._insert(conn, result, kinds or {}, **opts) for result, opts in items]

    def _insert(self, conn: sqlite3.Connection, result: MatchResult, kinds: dict[str, str], *,
                event: str | None = None, id: str | None = None,
                teams: Sequence[int] | None = None) -> Recorded:
        mid = id or match_id(result, event)
        error = result.error
        at = now()
        moves = json.dumps(result.moves) if result.moves is not None else None
        opening = json.dumps([int(a) for a in result.opening]) if result.opening else None
        digest = fingerprint(result)
        first = conn.execute("SELECT seq FROM matches WHERE env = ? AND fingerprint = ? AND replay_of IS NULL",
                             (result.env_id, digest)).fetchone() if digest else None
        inserted = conn.execute(
            "INSERT INTO matches (id, env, event, seed, played_at, status, reason, length, duration_s, moves, opening, "
            "fingerprint, replay_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (mid, result.env_id, event, result.seed, at, "error" if error else "ok", error, result.length,
             result.duration_s, moves, opening, digest, first[0] if first else None))
        if inserted.rowcount == 0:
            return Recorded(None, mid)  # this match id is stored already
        seq = inserted.lastrowid
        assert seq is not None
        write_players(conn, [{"id": p, "kind": kinds.get(p, "policy"), "params": player_params(p), "created_at": at}
                             for p in dict.fromkeys(result.players)], update=False)
        teams = list(teams) if teams is not None else [result.side(s) for s in range(result.num_seats)]
        conn.executemany(
            "INSERT INTO participants (match_seq, seat, team, player, score, rank, return, forfeit) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(seq, s, teams[s], p, *((None, None, None) if error else (result.score(s), result.ranks[s],
                                                                        result.returns[s])), result.forfeits.get(s))
             for s, p in enumerate(result.players)])
        if not error and not first and rated(result.players, teams):
            self._rate(conn, seq, result, teams, at)
        return Recorded(seq, mid, replay_of=first[0] if first else None)

    def _rate(self, conn: sqlite3.Connection, seq: int, result: MatchResult, teams: Sequence[int], at: str) -> None:
        """Update ratings, records, history and pair totals for one stored match (inside its transaction)."""
        if not result.teams and len(set(teams)) < len(teams):  # teams given by the caller: outcomes are by team
            result = dataclasses.replace(result, teams=tuple(teams))
        env, players = result.env_id, result.players
        # one rating per player: a player in several seats of one team (it plays the whole team) counts once
        first_seat: dict[tuple[int, str], int] = {}
        for s in range(len(players)):
            first_seat.setdefault((teams[s], players[s]), s)
        members = [[s for (side, _), s in first_seat.items() if side == t] for t in sorted(set(teams))]
        if len(members) < 2:
            return
        assert self.ratings is not None
        current = {p: (mu, sigma) for p, mu, sigma in conn.execute(
            f"SELECT player, mu, sigma FROM ratings WHERE env = ? AND player IN ({','.join('?' * len(players))})",
            (env, *players))}
        new = self.ratings.rate(self.settings(env), [[current.get(players[s]) for s in team] for team in members],
                                [min(result.ranks[s] for s in team) for team in members])
        rows = []
        for t, team in enumerate(members):
            for i, s in enumerate(team):
                outcome = result.outcome(s)
                rows.append((env, players[s], *new[t][i], outcome == "win", outcome == "draw", outcome == "loss", at))
        conn.executemany(
            "INSERT INTO ratings (env, player, mu, sigma, games, wins, draws, losses, last_played) "
            "VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (env, player) DO UPDATE SET mu = excluded.mu, "
            "sigma = excluded.sigma, games = games + 1, wins = wins + excluded.wins, draws = draws + excluded.draws, "
            "losses = losses + excluded.losses, last_played = excluded.last_played", rows)
        conn.executemany("INSERT INTO rating_history (match_seq, env, player, mu, sigma) VALUES (?, ?, ?, ?, ?)",
                         [(seq, *row[:4]) for row in rows])
        pair_rows = []
        seated = sorted(s for team in members for s in team)
        for x, i in enumerate(seated):
            for j in seated[x + 1:]:
                if teams[i] == teams[j]:
                    continue
                (a, ra), (b, rb) = sorted([(players[i], result.ranks[i]), (players[j], result.ranks[j])])
                pair_rows.append((env, a, b, int(ra < rb), int(ra == rb), int(ra > rb)))
        conn.executemany(
            "INSERT INTO pairs (env, a, b, games, a_wins, draws, b_wins) VALUES (?, ?, ?, 1, ?, ?, ?) "
            "ON CONFLICT (env, a, b) DO UPDATE SET games = games + 1, a_wins = a_wins + excluded.a_wins, "
            "draws = draws + excluded.draws, b_wins = b_wins + excluded.b_wins", pair_rows)

    def rebuild(self, env: str | None = None, *, dry_run: bool = False) -> dict[tuple[str, str], tuple[Skill, Skill]]:
        """Recompute ratings, records, history and pair totals from the stored matches, in commit order.

        Returns {(env, player): (stored skill, rebuilt skill)} for every player whose skill changed;
        with dry_run the store is left exactly as it was (a check that incremental == rebuilt). Inside an open
        transaction() it becomes part of that transaction.
        """
        where, args = ("WHERE env = ?", (env,)) if env else ("", ())
        with self.transaction(commit=not dry_run) as conn:
            before = {(e, p): (mu, sg) for e, p, mu, sg in conn.execute(
                f"SELECT env, player, mu, sigma FROM ratings {where}", args)}
            for table in ("ratings", "rating_history", "pairs"):
                conn.execute(f"DELETE FROM {table} {where}", args)
            matches = conn.execute(f"SELECT seq, env, seed, played_at, length FROM matches {where}"
                                   f"{' AND' if env else ' WHERE'} status = 'ok' AND replay_of IS NULL ORDER BY seq",
                                   args).fetchall()
            for seq, menv, seed, played_at, length in matches:
                seats = conn.execute("SELECT player, return, rank, team FROM participants WHERE match_seq = ? "
                                     "ORDER BY seat", (seq,)).fetchall()
                players, teams = tuple(row[0] for row in seats), tuple(row[3] for row in seats)
                if rated(players, teams):
                    result = MatchResult(menv, seed, players, tuple(r[1] for r in seats), tuple(r[2] for r in seats),
                                         length, teams=teams if len(set(teams)) < len(teams) else ())
                    self._rate(conn, seq, result, list(teams), played_at)
            after = {(e, p): (mu, sg) for e, p, mu, sg in conn.execute(
                f"SELECT env, player, mu, sigma FROM ratings {where}", args)}
        return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}

    def settings(self, env: str) -> dict[str, float]:
        """The rating settings of an env, stored with its defaults the first time the env is rated."""
        conn = self.db.conn
        row = conn.execute(f"SELECT {', '.join(SETTINGS)} FROM rating_settings WHERE env = ?", (env,)).fetchone()
        if row is None:
            assert self.ratings is not None
            d = self.ratings.defaults(env)
            conn.execute(f"INSERT INTO rating_settings (env, {', '.join(SETTINGS)}) VALUES (?, ?, ?, ?, ?, ?)",
                         (env, *(d[k] for k in SETTINGS)))
            return d
        return dict(zip(SETTINGS, row))

    def set_settings(self, env: str, changes: Mapping[str, float]) -> tuple[dict[str, float], dict[Any, Any]]:
        """Change an env's rating settings and re-rate its stored matches with them, in one transaction.

        Returns (the new settings, what rebuild() returned)."""
        unknown = set(changes) - set(SETTINGS)
        if unknown:
            raise ValueError(f"no rating setting {', '.join(sorted(unknown))}")
        with self.transaction() as conn:
            settings = {**self.settings(env), **changes}
            conn.execute(f"UPDATE rating_settings SET {', '.join(f'{k} = ?' for k in SETTINGS)} WHERE env = ?",
                         (*(settings[k] for k in SETTINGS), env))
            changed = self.rebuild(env)
        return settings, changed

    def register_player(self, id: str, kind: str, **fields: Any) -> None:
        """Add or update a player row (snapshots and learners carry lineage and a checkpoint path)."""
        with self.transaction() as conn:
            write_players(conn, [{"id": id, "kind": kind, **fields}], update=True)
