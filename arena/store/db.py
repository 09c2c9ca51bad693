"""The Store: opening an Arena SQLite database, checking it is Arena's, migrating it, and write transactions.

Each aggregate module (matches, leagues, tournaments) owns its tables and their migration; `migrations` applies them
in one fixed order. Ratings are computed by a RatingSystem the caller passes in (arena.services.recording wires
TrueSkill), so the store stays a sibling of arena.ratings rather than its user.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils
from sqlite_utils.migrations import Migrations

from arena import signals
from arena.errors import ArenaError
from arena.settings import DB_ENV_VAR
from arena.store.leagues import m002_leagues, m008_league_runs
from arena.store.matches import (MatchesAndRatings, RatingSystem, m001_initial, m004_match_event, m005_openings,
                                 m006_replays, m007_error_participants)
from arena.store.tournaments import m003_tournaments, m009_tournament_openings

BUSY_TIMEOUT_MS = 60_000


class StoreError(ArenaError):
    """The database cannot be used: missing, not Arena's, not writable, corrupt."""

    exit_code = 2


STEPS = (m001_initial, m002_leagues, m003_tournaments, m004_match_event, m005_openings, m006_replays,
         m007_error_participants, m008_league_runs, m009_tournament_openings)  # never reorder or rename
# PRAGMA user_version of a store this Arena migrated: the number of its migrations. A store with a higher one, or
# with a migration this Arena does not know, was written by a newer Arena and is refused.
SCHEMA_VERSION = len(STEPS)
migrations = Migrations("arena")
for _step in STEPS:
    migrations()(_step)


class Store(MatchesAndRatings):
    """One Arena SQLite database. Writers take the write lock up front (BEGIN IMMEDIATE) and wait for each other.

    Opened writable, it applies pending migrations. Opened read-only, a store written by an older Arena is upgraded
    first (one short write transaction) when its file can be written, so every query sees the current schema.
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, ratings: RatingSystem | None = None):
        if not readonly and ratings is None:
            raise ValueError("a writable Store needs a RatingSystem")
        self.path = Path(path)
        self.readonly = readonly
        self.ratings = ratings
        self._depth = 0
        if not readonly and not self.path.exists():
            self._create()
        self.db = sqlite_utils.Database(self._connect(readonly))
        try:
            self._check_is_arena()
            if readonly:
                self._upgrade_readonly()
            else:
                self._wal(self.db.conn)  # only now: a database that is not Arena's keeps its journal mode
                self._migrate(self.db)
        except BaseException:
            self.db.conn.close()  # a refused file is left as it was, without -wal or -shm files beside it
            raise

    # -- opening ----------------------------------------------------------------------------
    def _connect(self, readonly: bool) -> sqlite3.Connection:
        where = str(self.path)
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"No Arena store at {where}. Play a match with `arena match ... --db {where}` "
                                     f"first, or point --db (or ${DB_ENV_VAR}) at one.")
                conn = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True, isolation_level=None)
            else:
                if self.path.parent != Path("") and not self.path.parent.is_dir():
                    raise StoreError(f"Cannot create {where}: folder {self.path.parent} does not exist.")
                conn = sqlite3.connect(where, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            return conn
        except sqlite3.DatabaseError as e:
            raise _explain(e, where) from e

    def _wal(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: safe against a killed process
        except sqlite3.DatabaseError as e:
            raise _explain(e, str(self.path)) from e

    def _create(self) -> None:
        """Build a new store under a temporary name and link it into place complete, so that a reader opening the
        path never finds it half made (empty, or without its tables). A writer that loses the race uses the winner's."""
        where = str(self.path)
        if self.path.parent != Path("") and not self.path.parent.is_dir():
            raise StoreError(f"Cannot create {where}: folder {self.path.parent} does not exist.")
        tmp = self.path.parent / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.creating"
        try:  # mode 0o666 less the umask, as sqlite3 would create it (tempfile.mkstemp would make it private)
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except OSError as e:
            raise StoreError(f"Cannot create {where}: {e.strerror or e}.") from None
        try:
            with contextlib.closing(sqlite3.connect(tmp, isolation_level=None)) as conn:
                self._migrate(sqlite_utils.Database(conn))
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another writer created it first
            except OSError:  # a file system without hard links: create it in place, as before
                pass
        finally:
            os.unlink(tmp)

    def _check_is_arena(self) -> None:
        try:
            tables = set(self.db.table_names())
            if not tables:
                if self.readonly:
                    raise StoreError(f"{self.path} is empty, not an Arena store.")
                return
            applied = [m.name for m in migrations.applied(self.db)]
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise _explain(e, str(self.path)) from e
        if "m001_initial" not in applied:
            shown = ", ".join(sorted(tables)[:5])
            raise StoreError(f"{self.path} is an SQLite database but not an Arena store (its tables: {shown}). "
                             "Use another --db path.")
        unknown = [name for name in applied if name not in {step.__name__ for step in STEPS}]
        if unknown or version > SCHEMA_VERSION:
            found = f"migration {', '.join(unknown)}" if unknown else f"schema version {version}"
            raise StoreError(f"{self.path} was written by a newer Arena ({found}; this one knows up to "
                             f"{STEPS[-1].__name__}): upgrade Arena to use it (pip install -U arena).")

    def _migrate(self, db: sqlite_utils.Database) -> None:
        """Apply pending migrations under the write lock, all in one transaction (others wait, then find none)."""
        try:
            pending = migrations.pending(db)
        except sqlite3.DatabaseError as e:
            raise _explain(e, str(self.path)) from e
        if pending:
            with _transaction(db.conn, str(self.path)):
                migrations.apply(db)  # sqlite-utils nests each migration in a savepoint of this transaction
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _upgrade_readonly(self) -> None:
        try:
            pending = [m.name for m in migrations.pending(self.db)]
        except sqlite3.DatabaseError as e:
            raise _explain(e, str(self.path)) from e
        if not pending:
            return
        try:
            with contextlib.closing(self._connect(readonly=False)) as conn:
                self._migrate(sqlite_utils.Database(conn))
        except StoreError as e:
            raise StoreError(f"{self.path} was written by an older Arena and needs an upgrade ({', '.join(pending)}) "
                             f"that cannot be written: {e}") from e

    # -- transactions -----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, *, commit: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds SQLite's write lock from the start (others wait up to the busy timeout).

        Opened inside another one it is a savepoint of it: its changes commit with the outer transaction, or are
        undone on an error (or when commit is False) without undoing the outer one's.
        """
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only.")
        conn = self.db.conn
        if not conn.in_transaction:
            with signals.deferred(), _transaction(conn, str(self.path), commit=commit):
                yield conn
            return
        self._depth += 1
        name = f"arena_{self._depth}"
        try:
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield conn
                if not commit:
                    conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            except BaseException:
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
        except sqlite3.DatabaseError as e:
            raise _explain(e, str(self.path)) from e
        finally:
            self._depth -= 1

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, where: str, *, commit: bool = True) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on an error, or when commit is False)."""
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
        raise _explain(e, where) from e


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
