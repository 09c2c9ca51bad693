"""Offline data from the store: generated games are stored with their moves, an export replays them into RLlib's
column format (one episode per game and seat, the masked Dict observation), filters and skips are counted, and
every bad input is one line before Ray could start. Behaviour cloning itself is in test_bc.py (it starts Ray)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arena.errors import UnknownIdError, UsageError
from arena.features import FEATURES, feature_dim, features
from arena.match import play_game
from arena.registry import Registry
from arena.services import cloning as cl
from arena.services import dataset as ds
from arena.services.recording import open_store
from arena.services.training import TrainRequest, check_init, train

ENV = "openspiel/connect_four"
ARENA = str(Path(sys.executable).with_name("arena"))


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


@pytest.fixture(scope="module")
def stored(tmp_path_factory, registry):
    """A store with 12 generated games (heuristic vs random, seats swapped, from 2-ply openings) and their export."""
    folder = tmp_path_factory.mktemp("data")
    with open_store(folder / "a.db") as store:
        doc = ds.generate(registry, store, env=ENV, players=["connect_four_heuristic", "random"], games=12, seed=5,
                          openings="random:plies=2")
        summary = ds.export(registry, store, env=ENV, out=folder / "all")
    return folder, doc, summary


def rows(folder: Path) -> dict[str, np.ndarray | list]:
    table = pa.concat_tables([pq.read_table(f) for f in sorted(folder.glob("*.parquet"))])
    return table.to_pydict()


def test_generate_stores_every_pair_with_moves_and_a_rerun_stores_nothing_new(stored, registry):
    folder, doc, _ = stored
    assert doc["games"] == 12 and doc["stored_new"] == 12 and len(doc["pairs"]) == 1
    with open_store(folder / "a.db") as store:
        moves = store.db.execute("SELECT count(*) FROM matches WHERE moves IS NOT NULL AND event = ?",
                                 [ds.DATASET_EVENT]).fetchone()[0]
        assert moves == 12
        again = ds.generate(registry, store, env=ENV, players=["connect_four_heuristic", "random"], games=12, seed=5,
                            openings="random:plies=2")
    assert again["stored_new"] == 0 and again["pairs"][0]["already_stored"] == 12


def test_export_replays_every_seat_into_rllib_columns_with_the_observations_the_players_saw(stored, registry):
    folder, _, summary = stored
    data = rows(folder / "all")
    game = registry.make_game(ENV)
    info = game.info
    assert summary["games"] == 12 and summary["episodes"] == 24 and summary["rows"] == len(data["actions"])
    with open_store(folder / "a.db") as store:
        games = {mid: (json.loads(moves), json.loads(opening)) for mid, moves, opening in
                 store.db.execute("SELECT id, moves, opening FROM matches")}
    by_episode: dict[str, list[int]] = {}
    for i, eps in enumerate(data["eps_id"]):
        by_episode.setdefault(eps, []).append(i)
    assert len(by_episode) == 24
    for eps, idx in by_episode.items():
        mid, seat = data["match_id"][idx[0]], data["seat"][idx[0]]
        assert eps == f"{mid}-{seat}" and all(data["seat"][i] == seat for i in idx)
        moves, opening = games[mid]
        # step the game independently of the exporter, through the adapter
        game.reset(0)
        history, mine = [], []
        for ply, (s, a) in enumerate(moves):
            if ply >= len(opening) and s == seat:
                mine.append((features(info, game.observation(s), history, s), game.action_mask(s), a, ply))
            game.step({s: a})
            history.append((s, a))
        assert [data["t"][i] for i in idx] == list(range(len(mine)))
        assert [data["actions"][i] for i in idx] == [a for _, _, a, _ in mine]
        assert [data["ply"][i] for i in idx] == [p for _, _, _, p in mine]
        for i, (x, mask, _, _) in zip(idx, mine):
            assert np.allclose(data["obs"][i]["observations"], x)
            assert np.array_equal(np.asarray(data["obs"][i]["action_mask"]), np.asarray(mask, np.float32))
        for a, b in zip(idx, idx[1:]):  # the next observation is the seat's next decision
            assert data["new_obs"][a] == data["obs"][b] and not data["terminateds"][a]
        last = idx[-1]
        assert data["terminateds"][last] and not any(data["truncateds"][i] for i in idx)
        outcome = data["outcome"][last]
        assert data["rewards"][last] == pytest.approx(outcome) and all(data["rewards"][i] == 0 for i in idx[:-1])
        assert [data["to_end"][i] for i in idx] == list(range(len(idx)))[::-1]
        assert data["fold"][last] == ds.fold_of(mid)
    winners = [data["outcome"][i] for i, p in enumerate(data["player"]) if p == "connect_four_heuristic"]
    assert np.mean(winners) > 0  # the heuristic beats random, and its episodes say so
    game.close()


def test_the_files_carry_the_game_and_sizes_and_the_folds_split_games_not_moves(stored, registry):
    folder, _, _ = stored
    data = cl.read(folder / "all")
    info = registry.make_game(ENV).info
    assert data.env == info.env_id and data.obs_dim == feature_dim(info) and data.num_actions == info.num_actions
    assert data.features == FEATURES and sum(data.rows) == len(rows(folder / "all")["actions"])
    cl.check_fits(data, info)
    train_files, held = data.split(0.3)
    assert set(train_files) | set(held) == set(data.files) and not set(train_files) & set(held)
    for f in held:
        assert set(pq.read_table(f, columns=["fold"]).column("fold").to_pylist()) <= {0, 1, 2}
    for f in train_files:
        ids = set(pq.read_table(f, columns=["match_id"]).column("match_id").to_pylist())
        assert all(ds.fold_of(m) >= 3 for m in ids)
    cols = cl.load_columns(data.files, data.obs_dim, data.num_actions)
    assert cols["x"].shape == (sum(data.rows), data.obs_dim) and cols["mask"][np.arange(len(cols["actions"])),
                                                                               cols["actions"]].all()


def test_players_and_league_filters_and_the_games_that_cannot_be_replayed(tmp_path, registry):
    game = registry.make_game(ENV)
    heuristic, rand = registry.make_policy("connect_four_heuristic"), registry.make_policy("random")
    with open_store(tmp_path / "a.db") as store:
        results = [play_game(game, [heuristic, rand] if i % 2 == 0 else [rand, heuristic], 10 + i, record_moves=True)
                   for i in range(4)]
        for r in results:
            store.record(r)
        store.record(replace(results[0], seed=99))  # the same moves again: a replay of game 0
        store.record(replace(results[1], seed=98, moves=None))  # stored without its moves
        bad = list(results[2].moves)
        column = bad[0][1]
        bad = [(s, column) for s, _ in bad[:8]]  # seven stones in one column: the seventh is illegal
        store.record(replace(results[2], seed=97, moves=tuple(bad), trajectory=tuple(bad)))
        doc = ds.export(registry, store, env="openspiel/connect_four", out=tmp_path / "h",
                        players=["connect_four_heuristic"])
        assert (doc["games"], doc["replays"], doc["no_moves"], doc["unreplayable"]) == (4, 1, 1, 1)
        assert doc["unreplayable_reasons"] == {"illegal move on replay": 1}
        data = rows(tmp_path / "h")
        assert set(data["player"]) == {"connect_four_heuristic"} and doc["episodes"] == 4
        heuristic_moves = sum(1 for r in results for s, _ in r.moves if r.players[s] == "connect_four_heuristic")
        assert len(data["actions"]) == heuristic_moves == doc["rows_by_player"]["connect_four_heuristic"]
        with pytest.raises(UnknownIdError, match="player"):
            ds.export(registry, store, env=ENV, out=tmp_path / "x", players=["nobody"])
        with pytest.raises(UnknownIdError, match="league"):
            ds.export(registry, store, env=ENV, out=tmp_path / "x", league="nowhere")
        with pytest.raises(UnknownIdError, match="env"):
            ds.export(registry, store, env="openspiel/tic_tac_toe", out=tmp_path / "x")
        with pytest.raises(ds.DatasetError, match="holds a dataset already"):
            ds.export(registry, store, env=ENV, out=tmp_path / "h")
        again = ds.export(registry, store, env=ENV, out=tmp_path / "h", players=["connect_four_heuristic"],
                          overwrite=True)
        assert again["rows"] == doc["rows"] and len(list((tmp_path / "h").glob("*.parquet"))) == len(again["files"])


def test_data_that_is_missing_empty_foreign_or_for_another_game_is_refused_in_one_line(tmp_path, stored, registry):
    folder, _, _ = stored
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("hello")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "x.parquet").write_text("not parquet")
    (tmp_path / "plain").mkdir()
    pq.write_table(pa.table({"obs": [1.0]}), tmp_path / "plain" / "x.parquet")
    for path, words in [(tmp_path / "none", "does not exist"), (tmp_path / "empty", "is empty"),
                        (tmp_path / "text", "no Parquet files"), (tmp_path / "fake", "not a Parquet file"),
                        (tmp_path / "plain", "not an Arena dataset")]:
        with pytest.raises(ds.DatasetError, match=words) as e:
            cl.read(path)
        assert "\n" not in str(e.value)
    data = cl.read(folder / "all")
    for env, words in [("openspiel/tic_tac_toe", "is from openspiel/connect_four"),
                       ("pettingzoo/connect_four_v3", "is from openspiel/connect_four")]:
        with pytest.raises(ds.DatasetError, match=words):
            cl.check_fits(data, registry.make_game(env).info)
    shaped = replace(data, obs_dim=data.obs_dim + 1)
    with pytest.raises(ds.DatasetError, match="features and"):
        cl.check_fits(shaped, registry.make_game(ENV).info)


class Refuse:
    """Stands in for the bc plugin's clone: reaching it means the checks let bad input through."""

    @classmethod
    def clone(cls, *args, **kwargs):
        raise AssertionError("cloning started")


def test_behaviour_clone_and_init_check_everything_before_starting(tmp_path, stored, registry, monkeypatch):
    folder, _, _ = stored
    bc = registry.resolve("algorithm", "bc").load()
    monkeypatch.setattr(bc, "clone", Refuse.clone)
    with pytest.raises(ds.DatasetError, match="is from openspiel/connect_four"):
        cl.behaviour_clone(registry, "openspiel/tic_tac_toe", folder / "all", snapshots_dir=tmp_path)
    with pytest.raises(ds.DatasetError, match="is empty"):
        (tmp_path / "empty").mkdir()
        cl.behaviour_clone(registry, ENV, tmp_path / "empty", snapshots_dir=tmp_path)
    with pytest.raises(UsageError, match="no hyperparameter"):
        cl.behaviour_clone(registry, ENV, folder / "all", snapshots_dir=tmp_path, hyperparameters={"lrr": 1})
    with pytest.raises(UnknownIdError, match="policy"):
        cl.behaviour_clone(registry, ENV, folder / "all", snapshots_dir=tmp_path, opponents=["no-such-bot"])
    with pytest.raises(UsageError, match="learns by playing"):
        cl.behaviour_clone(registry, ENV, folder / "all", snapshots_dir=tmp_path, algo="ppo")
    with pytest.raises(UsageError, match="give --data"):
        train(registry, None, TrainRequest(env=ENV, algo="bc", snapshots=tmp_path))
    with pytest.raises(UsageError, match="--data is for offline"):
        train(registry, None, TrainRequest(env=ENV, algo="ppo", data=folder / "all", snapshots=tmp_path))
    # --init: a snapshot of another game, other sizes or other hidden layers, refused before a learner exists
    info = registry.make_game(ENV).info
    meta = {"env": info.env_id, "obs_dim": feature_dim(info), "num_actions": info.num_actions, "hidden": [64, 64],
            "activation": "tanh", "features": FEATURES}
    for name, changes in {"ok": {}, "ttt": {"env": "openspiel/tic_tac_toe-v0", "obs_dim": 29, "num_actions": 9},
                          "old": {"features": 1}, "look": {"features": 3, "obs_dim": feature_dim(info, 3)},
                          "deep": {"features": 4, "obs_dim": feature_dim(info, 4)}}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text(json.dumps({**meta, **changes}))
    assert check_init("snapshot/ok", info, (64, 64), tmp_path) == ("snapshot/ok", tmp_path / "ok")
    for spec, hidden, words in [("snapshot/ok", (128, 128), "pass --hidden 64,64"),
                                ("snapshot/ttt", (64, 64), "trained on openspiel/tic_tac_toe"),
                                ("snapshot/old", (64, 64), "feature encoding 1, this learner 2"),
                                ("snapshot/look", (64, 64), "lookahead = true"),
                                ("snapshot/deep", (64, 64), "lookahead = 3"),
                                ("snapshot/nope", (64, 64), "Unknown snapshot")]:
        with pytest.raises(UsageError, match=words):
            check_init(spec, info, hidden, tmp_path)
    assert check_init("snapshot/look", info, (64, 64), tmp_path, features=3)[0] == "snapshot/look"
    assert check_init("snapshot/deep", info, (64, 64), tmp_path, features=4)[0] == "snapshot/deep"


def arena(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARENA, *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "ARENA_SNAPSHOTS": str(cwd / "snapshots")})


def test_the_cli_exports_and_refuses_bad_input_in_one_line_before_ray(tmp_path, stored):
    folder, _, _ = stored
    out = arena("dataset", "export", "--db", str(folder / "a.db"), "--env", "openspiel/connect_four", "--out",
                str(tmp_path / "d"), "--players", "random", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["episodes"] == 12 and set(doc["rows_by_player"]) == {"random"}
    info = arena("dataset", "info", str(tmp_path / "d"), "--json", cwd=tmp_path)
    assert json.loads(info.stdout)["rows"] == doc["rows"]
    # an unreachable Ray address: had a check come after Ray, the error would be about Ray
    unreachable = ["--ray-address", "127.0.0.1:1"]
    (tmp_path / "snapshots" / "c4").mkdir(parents=True)
    (tmp_path / "snapshots" / "c4" / "meta.json").write_text(json.dumps(
        {"env": "openspiel/connect_four-v0", "obs_dim": doc["obs_dim"], "num_actions": 7, "hidden": [64, 64],
         "activation": "tanh", "features": FEATURES}))
    for args, words in [
        (["train", "openspiel/tic_tac_toe", "--algo", "bc", "--data", str(tmp_path / "d")], "is from"),
        (["train", ENV, "--algo", "bc", "--data", str(tmp_path / "nothing")], "does not exist"),
        (["train", ENV, "--init", "snapshot/c4"], "pass --hidden 64,64"),
        (["dataset", "export", "--db", str(folder / "a.db"), "--env", ENV, "--out", str(tmp_path / "e"),
          "--players", "nobody"], "Unknown player 'nobody'"),
    ]:
        out = arena(*args, *(unreachable if args[0] == "train" else []), cwd=tmp_path)
        assert out.returncode == 2 and words in out.stderr, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
