"""The lookahead features (encodings 3 and 4) and teachers' move probabilities: what they flag on known Connect Four
positions, where they are refused, and an export labelled by a teacher (soft targets, the same on 1 or 2 workers).
Cloning from those labels is in test_bc.py (it starts Ray)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arena.errors import UsageError
from arena.features import (FEATURES, LOOKAHEAD, THREATS, feature_dim, features, lookahead, lookahead_error,
                            lookahead_unavailable, setting_for, threats, version_for)
from arena.registry import Registry
from arena.services import dataset as ds
from arena.services.recording import open_store

ENV = "openspiel/connect_four"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


def position(registry: Registry, moves: list[int]):
    game = registry.make_game(ENV)
    game.reset(seed=0)
    for a in moves:
        game.step({game.to_move()[0]: a})
    return game


def test_lookahead_flags_the_win_at_once_and_every_move_that_hands_one_over(registry):
    # X (seat 0) has 0,1,2 on the bottom row, O has 0,1 on the second: X to move wins in column 3 at once
    game = position(registry, [0, 0, 1, 1, 2])  # O to move: it must block column 3
    flags = lookahead(game.native_state(), 7)
    wins, hands = flags[:7], flags[7:]
    assert wins.sum() == 0  # O has no four to complete
    assert hands[3] == 0 and hands[[0, 1, 2, 4, 5, 6]].all()  # every move but the block lets X win
    game.step({1: 3})
    game.step({0: 6})
    # O: 0,1 in row 2 and 3 in row 1... X to be blocked elsewhere; now X to move has no win, O none either
    state = game.native_state()
    flags = lookahead(state, 7)
    assert flags[:7].sum() == 0
    game2 = position(registry, [0, 6, 1, 6, 2, 5])  # X to move, three in a row: column 3 wins at once
    wins = lookahead(game2.native_state(), 7)[:7]
    assert wins[3] == 1 and wins.sum() == 1


def test_the_encoding_adds_two_flags_per_action_and_needs_the_state(registry):
    game = position(registry, [3])
    info = game.info
    assert feature_dim(info, LOOKAHEAD) == feature_dim(info, FEATURES) + 2 * info.num_actions
    x = features(info, game.observation(1), [(0, 3)], 1, LOOKAHEAD, game.native_state())
    assert x.shape == (feature_dim(info, LOOKAHEAD),)
    assert np.array_equal(x[:feature_dim(info)], features(info, game.observation(1), [(0, 3)], 1))
    with pytest.raises(ValueError, match="native state"):
        features(info, game.observation(1), [(0, 3)], 1, LOOKAHEAD)


def test_threats_flag_the_double_threat_a_move_makes_and_the_one_it_allows(registry):
    # X (seat 0) on 2 and 3 of the bottom row, O stacked on 6: X to move
    game = position(registry, [2, 6, 3, 6])
    flags = threats(game.native_state(), 7).reshape(4, 7)
    assert np.array_equal(flags[:2], lookahead(game.native_state(), 7).reshape(2, 7))  # the one-ply flags first
    # column 1 or 4 makes an open three on the bottom row: two winning squares, O blocks one
    assert set(np.flatnonzero(flags[2])) == {1, 4}
    assert flags[0].sum() == 0 and flags[1].sum() == 0 and flags[3].sum() == 0
    # one move earlier, O to move: every move but 1 and 4 lets X make that open three
    game = position(registry, [2, 6, 3])
    flags = threats(game.native_state(), 7).reshape(4, 7)
    assert set(np.flatnonzero(flags[3])) == {0, 2, 3, 5, 6}
    assert flags[1].sum() == 0 and flags[2].sum() == 0  # no immediate loss, and O makes no threat of its own


def test_the_threats_encoding_adds_two_more_flags_per_action_and_the_setting_names_it(registry):
    game = position(registry, [3])
    info, state = game.info, game.native_state()
    assert feature_dim(info, THREATS) == feature_dim(info, LOOKAHEAD) + 2 * info.num_actions
    x = features(info, game.observation(1), [(0, 3)], 1, THREATS, state)
    assert x.shape == (feature_dim(info, THREATS),)
    assert np.array_equal(x[:feature_dim(info, LOOKAHEAD)], features(info, game.observation(1), [(0, 3)], 1,
                                                                         LOOKAHEAD, state))
    assert [version_for(v) for v in (False, True, 1, 3)] == [FEATURES, LOOKAHEAD, LOOKAHEAD, THREATS]
    assert [setting_for(v) for v in (FEATURES, LOOKAHEAD, THREATS)] == ["", "lookahead = true", "lookahead = 3"]
    assert all(lookahead_error(v) is None for v in (False, True, 0, 1, 3))
    for bad in (2, 4, "yes", 1.0, None):
        assert "lookahead must be true (one ply), 3" in lookahead_error(bad)


@pytest.mark.parametrize("env", ["pettingzoo/connect_four_v3", "openspiel/kuhn_poker", "openspiel/backgammon"])
def test_lookahead_is_refused_where_it_cannot_be_computed(registry, env):
    game = registry.make_game(env)
    assert lookahead_unavailable(game.info)
    game.close()


def test_mcts_probabilities_are_its_visit_counts_and_favour_the_winning_move(registry):
    game = position(registry, [0, 6, 1, 6, 2, 5])
    mcts = registry.make_policy("mcts:simulations=200")
    mcts.obj.reset(game.info, np.random.default_rng(0))
    p = mcts.obj.action_probabilities(game.native_state())
    assert p.shape == (7,) and abs(p.sum() - 1) < 1e-9 and (p >= 0).all()
    assert p.argmax() == 3
    uniform = registry.make_policy("random").obj.action_probabilities(np.array([1, 0, 1, 1, 0, 0, 0]))
    assert np.allclose(uniform, [1 / 3, 0, 1 / 3, 1 / 3, 0, 0, 0])


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, registry) -> Path:
    folder = tmp_path_factory.mktemp("teach")
    with open_store(folder / "a.db") as store:
        ds.generate(registry, store, env=ENV, players=["connect_four_heuristic", "random"], games=10, seed=3,
                    openings="random:plies=2")
    return folder


def table(folder: Path) -> dict:
    t = pa.concat_tables([pq.read_table(f) for f in sorted(folder.glob("*.parquet"))])
    return t.sort_by([("match_id", "ascending"), ("seat", "ascending"), ("t", "ascending")]).to_pydict()


def test_an_export_with_a_teacher_labels_every_position_the_same_on_one_or_two_workers(store_path, registry):
    with open_store(store_path / "a.db", readonly=True) as store:
        one = ds.export(registry, store, env=ENV, out=store_path / "one", lookahead=True,
                        teacher="mcts:simulations=20", workers=1)
        two = ds.export(registry, store, env=ENV, out=store_path / "two", lookahead=True,
                        teacher="mcts:simulations=20", workers=2)
    assert one["rows"] == two["rows"] > 0 and one["games"] == two["games"] == 10
    assert one["features"] == LOOKAHEAD and one["teacher"] == "mcts:simulations=20"
    a, b = table(store_path / "one"), table(store_path / "two")
    probs = np.array(a[ds.TEACHER_COLUMN])
    masks = np.array([o["action_mask"] for o in a["obs"]])
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5) and (probs[masks == 0] == 0).all()
    assert np.array_equal(probs, np.array(b[ds.TEACHER_COLUMN]))
    obs = np.array([o["observations"] for o in a["obs"]])
    assert obs.shape[1] == one["obs_dim"] and np.array_equal(obs, np.array([o["observations"] for o in b["obs"]]))
    values = np.array(a[ds.VALUE_COLUMN])
    assert np.isfinite(values).all() and (np.abs(values) <= 1).all() and np.array_equal(values, b[ds.VALUE_COLUMN])
    assert values.std() > 0  # the search tells positions apart
    # the stored move is still the action; the labels are the teacher's, not a copy of it
    assert (probs.argmax(axis=1) != np.array(a["actions"])).any()


def test_a_teacher_without_probabilities_or_lookahead_on_a_game_without_it_is_one_line(store_path, registry):
    with open_store(store_path / "a.db", readonly=True) as store:
        with pytest.raises(UsageError, match="gives no move probabilities"):
            ds.export(registry, store, env=ENV, out=store_path / "x", teacher="connect_four_heuristic")
        with pytest.raises(UsageError, match="--workers"):
            ds.export(registry, store, env=ENV, out=store_path / "x", workers=0)
    assert not (store_path / "x").exists()



def test_an_export_with_lookahead_3_carries_the_threats(store_path, registry):
    with open_store(store_path / "a.db", readonly=True) as store:
        doc = ds.export(registry, store, env=ENV, out=store_path / "threats", lookahead=3)
        with pytest.raises(UsageError, match="lookahead must be"):
            ds.export(registry, store, env=ENV, out=store_path / "bad", lookahead=2)
    assert doc["features"] == THREATS and doc["obs_dim"] == feature_dim(registry.make_game(ENV).info, THREATS)
    obs = np.array([o["observations"] for o in table(store_path / "threats")["obs"]])
    assert obs.shape == (doc["rows"], doc["obs_dim"]) and obs[:, -14:].any()  # some position has a threat
    assert not (store_path / "bad").exists()
