"""Distinct evidence: a game identical move for move to a stored one is stored but rated once, so a deterministic
pairing cannot inflate a rating by replaying itself; ratings still equal a rebuild from the stored games."""
from __future__ import annotations

import numpy as np

from arena import hookimpl
from arena.services.headtohead import HeadToHead, head_to_head
from arena.services.recording import open_store
from arena.testing import registry_with


def lowest(observation, action_mask):
    return int(np.flatnonzero(action_mask)[0])


def highest(observation, action_mask):
    return int(np.flatnonzero(action_mask)[-1])


class Deterministic:
    @hookimpl
    def register_policies(self, register):
        register("test-lowest", lowest, description="The lowest legal action.")
        register("test-highest", highest, description="The highest legal action.")


def play(store, env: str, games: int, seed: int, **kw) -> dict:
    reg = registry_with(Deterministic())
    return head_to_head(reg, HeadToHead(env, ("test-lowest", "test-highest"), games=games, seed=seed, **kw),
                        store=store)


def counts(store) -> tuple[int, int, int]:
    q = store.db.execute
    return (q("SELECT count(*) FROM matches").fetchone()[0],
            q("SELECT count(*) FROM matches WHERE replay_of IS NULL").fetchone()[0],
            q("SELECT sum(games) FROM ratings").fetchone()[0])


def test_a_deterministic_pairing_is_rated_once_per_distinct_game(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        doc = play(store, "openspiel/connect_four", 10, seed=1)
        stored, rated, rating_games = counts(store)
        # seats alternate, so two deterministic players play exactly two distinct games
        assert stored == 10 and rated == 2 and rating_games == 2 * 2
        assert doc["stored"]["new"] == 10 and doc["stored"]["replays_not_rated"] == 8
        assert store.db.execute("SELECT games FROM pairs").fetchone()[0] == 2
        replays = store.db.execute("SELECT m.replay_of, f.seq FROM matches m JOIN matches f "
                                   "ON f.seq = m.replay_of WHERE m.replay_of IS NOT NULL").fetchall()
        assert len(replays) == 8 and all(a == b for a, b in replays)  # each points at a rated original
        assert store.rebuild(dry_run=True) == {}
        # a later run of the same pairing with another seed adds no evidence either
        play(store, "openspiel/connect_four", 4, seed=2)
        assert counts(store)[1:] == (2, 4)
        assert store.rebuild(dry_run=True) == {}


def test_games_with_chance_keep_the_deal_in_their_identity(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        play(store, "openspiel/kuhn_poker", 12, seed=3)
        stored, rated, _ = counts(store)
        # the same two deterministic players with other cards dealt play other games: all rated
        assert stored == 12 and rated == 12


def test_openings_make_a_deterministic_pairing_informative(tmp_path):
    with open_store(tmp_path / "a.db") as store:
        play(store, "openspiel/connect_four", 12, seed=1, openings="random:plies=4")
        stored, rated, _ = counts(store)
        assert stored == 12 and rated >= 10  # six openings, both seats: distinct games (bar a chance repeat)
