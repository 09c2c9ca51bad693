"""Upgrading a store written by the first schema (m001) alone to the current one, with its data intact."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest
import sqlite_utils

from arena.ratings import TrueSkillSystem
from arena.services.recording import open_store
from arena.store import Store, StoreError, game_id, leaderboard, migrations
from arena.store.tournaments import list_tournaments
from arena.types import MatchResult, ranks_from_returns

ENV = "test/game-v0"
# (players, returns, seed, the matches.league value), as an m001-era Arena stored them
GAMES = [(("a", "b"), (1.0, -1.0), 1, "alpha"), (("b", "a"), (0.0, 0.0), 2, "alpha"),
         (("a", "c"), (-1.0, 1.0), 3, "tournament:cup"), (("c", "d"), (1.0, -1.0), 4, None)]


def write_m001_store(path: str) -> list[str]:
    """A database with migration m001 only, its matches written with the INSERTs of the m001-era Store."""
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m002_leagues")
    assert [m.name for m in migrations.applied(db)] == ["m001_initial"]
    system, now = TrueSkillSystem(), "2024-01-01T00:00:00.000+00:00"
    settings = system.defaults(ENV)
    conn = db.conn
    conn.execute("INSERT INTO rating_settings (env, mu, sigma, beta, tau, draw_probability) VALUES (?, ?, ?, ?, ?, ?)",
                 (ENV, settings["mu"], settings["sigma"], settings["beta"], settings["tau"],
                  settings["draw_probability"]))
    ids = []
    for players, returns, seed, league in GAMES:
        result = MatchResult(ENV, seed, players, returns, ranks_from_returns(returns), 5)
        mid = game_id(ENV, players, seed, league)
        seq = conn.execute("INSERT INTO matches (id, env, league, seed, played_at, status, length) "
                           "VALUES (?, ?, ?, ?, ?, 'ok', 5)", (mid, ENV, league, seed, now)).lastrowid
        conn.executemany("INSERT OR IGNORE INTO players (id, kind, params, created_at) VALUES (?, 'policy', '{}', ?)",
                         [(p, now) for p in players])
        conn.executemany("INSERT INTO participants (match_seq, seat, team, player, score, rank, return) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(seq, s, s, p, result.score(s), result.ranks[s], returns[s]) for s, p in enumerate(players)])
        current = {p: (mu, sg) for p, mu, sg in conn.execute("SELECT player, mu, sigma FROM ratings WHERE env = ?",
                                                              (ENV,))}
        new = system.rate(settings, [[current.get(p)] for p in players], list(result.ranks))
        for s, p in enumerate(players):
            outcome = result.outcome(s)
            conn.execute("INSERT INTO ratings (env, player, mu, sigma, games, wins, draws, losses, last_played) "
                         "VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (env, player) DO UPDATE SET mu = excluded.mu, "
                         "sigma = excluded.sigma, games = games + 1, wins = wins + excluded.wins, "
                         "draws = draws + excluded.draws, losses = losses + excluded.losses, "
                         "last_played = excluded.last_played",
                         (ENV, p, *new[s][0], outcome == "win", outcome == "draw", outcome == "loss", now))
            conn.execute("INSERT INTO rating_history (match_seq, env, player, mu, sigma) VALUES (?, ?, ?, ?, ?)",
                         (seq, ENV, p, *new[s][0]))
        (a, ra), (b, rb) = sorted(zip(players, result.ranks))
        conn.execute("INSERT INTO pairs (env, a, b, games, a_wins, draws, b_wins) VALUES (?, ?, ?, 1, ?, ?, ?) "
                     "ON CONFLICT (env, a, b) DO UPDATE SET games = games + 1, a_wins = a_wins + excluded.a_wins, "
                     "draws = draws + excluded.draws, b_wins = b_wins + excluded.b_wins",
                     (ENV, a, b, int(ra < rb), int(ra == rb), int(ra > rb)))
        ids.append(mid)
    db.conn.commit()
    db.conn.close()
    return ids


def dump(path: str) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("players", "matches", "participants", "ratings", "rating_history", "pairs")}


def test_an_m001_store_upgrades_to_the_current_schema_with_its_data_intact(tmp_path):
    path = str(tmp_path / "old.db")
    ids = write_m001_store(path)
    before = dump(path)
    with open_store(path) as store:
        assert [m.name for m in migrations.applied(store.db)] == [m.name for m in migrations._migrations]
        columns = [c.name for c in store.db["matches"].columns]
        assert "event" in columns and "league" not in columns
        indexes = {i.name: i.columns for i in store.db["matches"].indexes}
        assert indexes.get("matches_event") == ["event"] and "matches_league" not in indexes
        rows = store.db.execute("SELECT id, event FROM matches ORDER BY seq").fetchall()
        assert rows == [(mid, game[3]) for mid, game in zip(ids, GAMES)]  # values and match ids kept
        assert {"leagues", "league_members", "tournaments", "tournament_pairings"} <= set(store.db.table_names())
        assert store.rebuild(dry_run=True) == {}  # the ratings written then equal a rebuild now
        board = leaderboard(store)
        assert {r["player"] for r in board} == {"a", "b", "c", "d"} and [r["rank"] for r in board] == [1, 2, 3, 4]
        assert {r["player"] for r in leaderboard(store, league="alpha")} == {"a", "b"}
        assert {r["player"] for r in leaderboard(store, tournament="cup")} == {"a", "c"}
        assert list_tournaments(store) == []
        players, returns, seed, league = GAMES[0]  # the same game again, under its event: already stored
        again = MatchResult(ENV, seed, players, returns, ranks_from_returns(returns), 5)
        assert not store.record(again, event=league).new
    after = dump(path)
    width = len(before["matches"][0])  # columns added by later migrations (m005 opening) are NULL for old games
    assert all(v is None for row in after["matches"] for v in row[width:])
    after["matches"] = [row[:width] for row in after["matches"]]
    assert after == before  # every row as it was, now under the renamed column


def test_opening_an_m001_store_read_only_upgrades_it_first(tmp_path):
    path = str(tmp_path / "old.db")
    write_m001_store(path)
    with open_store(path, readonly=True) as store:
        assert store.readonly
        assert {r["player"] for r in leaderboard(store, league="alpha")} == {"a", "b"}
        assert json.loads(json.dumps(list_tournaments(store))) == []
    with Store(path, readonly=True) as store:
        assert not migrations.pending(store.db)


def test_a_store_that_cannot_take_its_upgrade_says_so_in_one_line(tmp_path, monkeypatch):
    path = str(tmp_path / "old.db")
    write_m001_store(path)

    def refuse(self, readonly):
        if not readonly:
            raise StoreError(f"{self.path} is read-only: cannot write to it. Use a writable --db path.")
        return original(self, readonly)

    original = Store._connect
    monkeypatch.setattr(Store, "_connect", refuse)
    with pytest.raises(StoreError, match="written by an older Arena and needs an upgrade"):
        open_store(path, readonly=True)


def test_error_games_keep_their_seats_but_no_score_so_sql_never_reads_them_as_draws(tmp_path):
    path = str(tmp_path / "old.db")
    write_m001_store(path)
    with sqlite3.connect(path) as conn:  # an m001-era error game: participants with score 0.5 and rank 0
        seq = conn.execute("INSERT INTO matches (id, env, seed, played_at, status, reason) VALUES "
                           "('err', ?, 9, '2024-01-01', 'error', 'crashed')", (ENV,)).lastrowid
        conn.executemany("INSERT INTO participants (match_seq, seat, team, player, score, rank, return) "
                         "VALUES (?, ?, ?, ?, 0.5, 0, 0.0)", [(seq, 0, 0, "a"), (seq, 1, 1, "b")])
    before = dump(path)["participants"]
    with open_store(path) as store:
        failed = MatchResult(ENV, 10, ("c", "d"), (0.0, 0.0), (0, 0), 0, error="RuntimeError: boom")
        new_seq = store.record(failed).seq
        rows = store.db.execute("SELECT match_seq, seat, player, score, rank, return FROM participants "
                                "WHERE match_seq IN (?, ?) ORDER BY 1, 2", (seq, new_seq)).fetchall()
        assert rows == [(seq, 0, "a", None, None, None), (seq, 1, "b", None, None, None),
                        (new_seq, 0, "c", None, None, None), (new_seq, 1, "d", None, None, None)]
        draws = store.db.execute("SELECT count(*) FROM participants WHERE score = 0.5").fetchone()[0]
        assert draws == sum(1 for row in before if row[0] != seq and row[4] == 0.5)  # the real draw of GAMES[1]
        assert store.rebuild(dry_run=True) == {}
    ok_rows = [row for row in dump(path)["participants"] if row[0] not in (seq, new_seq)]
    assert ok_rows == [row for row in before if row[0] != seq]


@pytest.mark.parametrize("newer", ["migration", "user_version"])
def test_a_store_written_by_a_newer_arena_is_refused_in_one_line_and_left_alone(tmp_path, newer):
    path = tmp_path / "new.db"
    with open_store(path):
        pass
    with sqlite3.connect(path) as conn:
        if newer == "migration":
            conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                         "VALUES ('arena', 'm999_from_the_future', '2030-01-01')")
        else:
            conn.execute(f"PRAGMA user_version = {conn.execute('PRAGMA user_version').fetchone()[0] + 1}")
    data = path.read_bytes()
    for readonly in (False, True):
        with pytest.raises(StoreError) as caught:
            open_store(path, readonly=readonly)
        message = str(caught.value)
        assert "newer Arena" in message and "upgrade Arena" in message and "\n" not in message
        assert ("m999_from_the_future" in message) == (newer == "migration")
    assert path.read_bytes() == data


def test_a_reader_never_finds_a_store_half_created(tmp_path, monkeypatch):
    path = tmp_path / "arena.db"
    seen = []
    original = Store._migrate

    def migrate_and_look(self, db):  # while the first writer builds the schema, a reader opens the path
        if migrations.pending(db):
            with pytest.raises(StoreError) as caught:
                Store(path, readonly=True)
            seen.append(str(caught.value))
        original(self, db)

    monkeypatch.setattr(Store, "_migrate", migrate_and_look)
    with open_store(path) as store:
        assert not migrations.pending(store.db)
    assert seen and all(m.startswith("No Arena store at") for m in seen)  # absent, never "empty"
    assert [p.name for p in tmp_path.iterdir() if "creating" in p.name] == []
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as sqlite3 creates a file, not private like a temp file
    with open_store(path, readonly=True) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(migrations._migrations)


@pytest.mark.parametrize("fails", ["m004_match_event", "m006_replays", "m007_error_participants"])
def test_an_upgrade_that_fails_halfway_leaves_the_store_as_it_was(tmp_path, monkeypatch, fails):
    """All pending migrations run in one transaction: one that fails (or a process killed meanwhile) leaves the old
    schema and data whole. sqlite3's executescript would COMMIT that transaction before each script it runs."""
    path = str(tmp_path / "old.db")
    write_m001_store(path)
    before = dump(path)
    with sqlite3.connect(path) as conn:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()

    def step(original):
        def broken(db):
            original(db)  # its statements run, then it fails as a kill would interrupt it
            raise RuntimeError("killed")
        return broken

    monkeypatch.setattr(migrations, "_migrations", [type(m)(m.name, step(m.fn), m.transactional) if m.name == fails else m
                                                     for m in migrations._migrations])
    with pytest.raises(RuntimeError, match="killed"):
        open_store(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
        assert [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")] == ["m001_initial"]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert dump(path) == before
    monkeypatch.undo()
    with open_store(path) as store:  # and the next open upgrades it whole
        assert not migrations.pending(store.db)
