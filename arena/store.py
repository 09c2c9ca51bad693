"""The SQLite store: schema and migrations, and writing a match with its rating update in one transaction.

Ratings are computed by a RatingSystem the caller passes in (arena.evaluation wires TrueSkill), so the
store stays a sibling of arena.ratings rather than its user. Read-side queries live in arena.queries.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import sqlite_utils
from sqlite_utils.migrations import Migrations

from arena.errors import ArenaError
from arena.registry import parse_spec
from arena.settings import DB_ENV_VAR
from arena.types import MatchResult

BUSY_TIMEOUT_MS = 60_000

Skill = tuple[float, float]


class RatingSystem(Protocol):
    """What the store needs to rate a match: default settings for a new env, and the update itself."""

    def defaults(self, env: str) -> dict[str, float]: ...

    def rate(self, settings: dict[str, float], teams: Sequence[Sequence[Skill | None]],
             ranks: Sequence[int]) -> list[list[Skill]]:
        """New skills by team (None in `teams` is a player not rated yet)."""


class StoreError(ArenaError):
    """The database cannot be used: missing, not Arena's, not writable, corrupt."""

    exit_code = 2


migrations = Migrations("arena")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript("""
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


def match_id(result: MatchResult, league: str | None = None) -> str:
    """A match id that depends only on what was played: the same game stored twice is stored once."""
    return game_id(result.env_id, result.players, result.seed, league)


def game_id(env: str, players: Sequence[str], seed: int, event: str | None = None) -> str:
    """The match id of a game before it is played: canonical env and player ids, its seed and its event tag."""
    key = json.dumps([env, list(players), seed, event])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Recorded:
    """What record() did: the match's sequence number, or None when the id was already stored."""

    seq: int | None
    id: str

    @property
    def new(self) -> bool:
        return self.seq is not None


class Store:
    """One Arena SQLite database. Writers take the write lock up front (BEGIN IMMEDIATE) and wait for each other."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, ratings: RatingSystem | None = None):
        if not readonly and ratings is None:
            raise ValueError("a writable Store needs a RatingSystem")
        self.path = Path(path)
        self.readonly = readonly
        self.ratings = ratings
        self.db = sqlite_utils.Database(self._connect())
        self._check_is_arena()
        if not readonly:
            self._migrate()

    # -- opening ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        where = str(self.path)
        try:
            if self.readonly:
                if not self.path.exists():
                    raise StoreError(f"No Arena store at {where}. Play a match with `arena match ... --db {where}` "
                                     f"first, or point --db (or ${DB_ENV_VAR}) at one.")
                conn = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True, isolation_level=None)
            else:
                if self.path.parent != Path("") and not self.path.parent.is_dir():
                    raise StoreError(f"Cannot create {where}: folder {self.path.parent} does not exist.")
                conn = sqlite3.connect(where, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not self.readonly:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: safe against a killed process
            conn.execute("PRAGMA foreign_keys = ON")
            return conn
        except sqlite3.DatabaseError as e:
            raise _explain(e, where) from e

    def _check_is_arena(self) -> None:
        try:
            tables = set(self.db.table_names())
            if not tables:
                if self.readonly:
                    raise StoreError(f"{self.path} is empty, not an Arena store.")
                return
            applied = {m.name for m in migrations.applied(self.db)}
        except sqlite3.DatabaseError as e:
            raise _explain(e, str(self.path)) from e
        if "m001_initial" not in applied:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(f"{self.path} is an SQLite database but not an Arena store (its tables: {shown}). "
                             "Use another --db path.")

    def _migrate(self) -> None:
        """Apply pending migrations under the write lock, all in one transaction (others wait, then find none)."""
        try:
            pending = migrations.pending(self.db)
        except sqlite3.DatabaseError as e:
            raise _explain(e, str(self.path)) from e
        if pending:
            with self._writing():
                migrations.apply(self.db)  # sqlite-utils nests each migration in a savepoint of this transaction

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT) for state kept beside the matches, e.g. a league's."""
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only.")
        return self._writing()

    @contextlib.contextmanager
    def _writing(self, *, commit: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds SQLite's write lock from the start (others wait up to the busy timeout)."""
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT" if commit else "ROLLBACK")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as e:
            raise _explain(e, str(self.path)) from e

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------
    def record(self, result: MatchResult, *, league: str | None = None, id: str | None = None,
               teams: Sequence[int] | None = None, kinds: dict[str, str] | None = None) -> Recorded:
        """Store one match with its participants and, when it counts, its rating update, in one transaction.

        A result with `error` is stored with status 'error' and its reason, and changes no rating.
        """
        return self.record_many([(result, {"league": league, "id": id, "teams": teams})], kinds=kinds)[0]

    def record_many(self, items: Iterable[tuple[MatchResult, dict[str, Any]]],
                    kinds: dict[str, str] | None = None) -> list[Recorded]:
        """Store several matches in one transaction (each with its rating update); all or none are written."""
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only.")
        with self._writing() as conn:
            return [self._insert(conn, result, kinds or {}, **opts) for result, opts in items]

    def _insert(self, conn: sqlite3.Connection, result: MatchResult, kinds: dict[str, str], *,
                league: str | None = None, id: str | None = None,
                teams: Sequence[int] | None = None) -> Recorded:
        mid = id or match_id(result, league)
        error = result.error
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        moves = json.dumps(result.moves) if result.moves is not None else None
        inserted = conn.execute(
            "INSERT INTO matches (id, env, league, seed, played_at, status, reason, length, duration_s, moves) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (mid, result.env_id, league, result.seed, now, "error" if error else "ok", error, result.length,
             result.duration_s, moves))
        if inserted.rowcount == 0:
            return Recorded(None, mid)  # this match id is stored already
        seq = inserted.lastrowid
        conn.executemany(
            "INSERT OR IGNORE INTO players (id, kind, params, created_at) VALUES (?, ?, ?, ?)",
            [(p, kinds.get(p, "policy"), json.dumps(parse_spec(p)[1]), now) for p in set(result.players)])
        teams = list(teams) if teams is not None else list(range(result.num_seats))
        conn.executemany(
            "INSERT INTO participants (match_seq, seat, team, player, score, rank, return, forfeit) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(seq, s, teams[s], p, result.score(s), result.ranks[s], result.returns[s], result.forfeits.get(s))
             for s, p in enumerate(result.players)])
        if not error and len(set(result.players)) == result.num_seats > 1:
            self._rate(conn, seq, result, teams, now)
        return Recorded(seq, mid)

    def _rate(self, conn: sqlite3.Connection, seq: int, result: MatchResult, teams: Sequence[int], now: str) -> None:
        """Update ratings, records, history and pair totals for one stored match (inside its transaction)."""
        env, players = result.env_id, result.players
        members = [[s for s in range(len(players)) if teams[s] == t] for t in sorted(set(teams))]
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
                rows.append((env, players[s], *new[t][i], outcome == "win", outcome == "draw", outcome == "loss", now))
        conn.executemany(
            "INSERT INTO ratings (env, player, mu, sigma, games, wins, draws, losses, last_played) "
            "VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (env, player) DO UPDATE SET mu = excluded.mu, "
            "sigma = excluded.sigma, games = games + 1, wins = wins + excluded.wins, draws = draws + excluded.draws, "
            "losses = losses + excluded.losses, last_played = excluded.last_played", rows)
        conn.executemany("INSERT INTO rating_history (match_seq, env, player, mu, sigma) VALUES (?, ?, ?, ?, ?)",
                         [(seq, *row[:4]) for row in rows])
        pair_rows = []
        for i in range(len(players)):
            for j in range(i + 1, len(players)):
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
        with dry_run the store is left exactly as it was (a check that incremental == rebuilt).
        """
        where, args = ("WHERE env = ?", (env,)) if env else ("", ())
        with self._writing(commit=not dry_run) as conn:
            before = {(e, p): (mu, sg) for e, p, mu, sg in conn.execute(
                f"SELECT env, player, mu, sigma FROM ratings {where}", args)}
            for table in ("ratings", "rating_history", "pairs"):
                conn.execute(f"DELETE FROM {table} {where}", args)
            matches = conn.execute(f"SELECT seq, env, seed, played_at, length FROM matches {where}"
                                   f"{' AND' if env else ' WHERE'} status = 'ok' ORDER BY seq", args).fetchall()
            for seq, menv, seed, played_at, length in matches:
                seats = conn.execute("SELECT player, return, rank, team FROM participants WHERE match_seq = ? "
                                     "ORDER BY seat", (seq,)).fetchall()
                players = tuple(row[0] for row in seats)
                if len(set(players)) == len(players) > 1:
                    result = MatchResult(menv, seed, players, tuple(r[1] for r in seats),
                                         tuple(r[2] for r in seats), length)
                    self._rate(conn, seq, result, [r[3] for r in seats], played_at)
            after = {(e, p): (mu, sg) for e, p, mu, sg in conn.execute(
                f"SELECT env, player, mu, sigma FROM ratings {where}", args)}
        return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}

    def settings(self, env: str) -> dict[str, float]:
        """The rating settings of an env, stored with its defaults the first time the env is rated."""
        conn = self.db.conn
        row = conn.execute("SELECT mu, sigma, beta, tau, draw_probability FROM rating_settings WHERE env = ?",
                           (env,)).fetchone()
        if row is None:
            assert self.ratings is not None
            d = self.ratings.defaults(env)
            conn.execute("INSERT INTO rating_settings (env, mu, sigma, beta, tau, draw_probability) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (env, d["mu"], d["sigma"], d["beta"], d["tau"], d["draw_probability"]))
            return d
        return dict(zip(("mu", "sigma", "beta", "tau", "draw_probability"), row))

    def register_player(self, id: str, kind: str, **fields: Any) -> None:
        """Add or update a player row (snapshots and learners carry lineage and a checkpoint path)."""
        row = {"id": id, "kind": kind, "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
        row.update({k: (json.dumps(v) if k == "params" else v) for k, v in fields.items()})
        with self.db.atomic():
            self.db["players"].upsert(row, pk="id")



@migrations()
def m002_leagues(db: sqlite_utils.Database) -> None:
    db.executescript("""
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


@migrations()
def m003_tournaments(db: sqlite_utils.Database) -> None:
    db.executescript("""
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


def _explain(error: sqlite3.DatabaseError, where: str) -> StoreError:
    """One line for the SQLite errors a user can cause."""
    text = str(error)
    if "readonly" in text or "read-only" in text:
        return StoreError(f"{where} is read-only: cannot write to it. Use a writable --db path.")
    if "unable to open" in text:
        return StoreError(f"Cannot open {where}: check the path and its permissions.")
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{where} is not an SQLite database (or is corrupt). Use another --db path.")
    if "locked" in text or "busy" in text:
        return StoreError(f"{where} stayed locked by another process for {BUSY_TIMEOUT_MS // 1000}s; try again.")
    return StoreError(f"{where}: {text}")
