"""Behaviour cloning on RLlib's offline API (BC, new API stack) from an exported dataset, with Arena's masked module:
the clone is an ordinary snapshot with a value head, predicts held-out moves better than chance, plays, and seeds a
PPO learner (policy and critic) through restore and `arena train --init`."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from arena.features import FEATURES  # noqa: E402
from arena.registry import Registry  # noqa: E402
from arena.services import cloning as cl
from arena.services import dataset as ds  # noqa: E402
from arena.services.recording import open_store  # noqa: E402
from arena.services.training import TrainRequest, train  # noqa: E402

ENV = "openspiel/connect_four"
HIDDEN = (32, 32)


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def cloned(tmp_path_factory, local_ray):
    """40 games of the heuristic against random, the heuristic's moves exported and cloned for 30 epochs."""
    folder = tmp_path_factory.mktemp("bc")
    registry = Registry()
    with pytest.MonkeyPatch.context() as mp, open_store(folder / "a.db") as store:
        mp.setenv("ARENA_SNAPSHOTS", str(folder / "snapshots"))  # where snapshot/NAME plays from
        ds.generate(registry, store, env=ENV, players=["connect_four_heuristic", "random"], games=40, seed=1)
        ds.export(registry, store, env=ENV, out=folder / "data", players=["connect_four_heuristic"])
        doc = cl.behaviour_clone(registry, ENV, folder / "data", hidden=HIDDEN, seed=0, name="clone",
                                 snapshots_dir=folder / "snapshots", epochs=30, holdout=0.2,
                                 hyperparameters={"train_batch_size_per_learner": 64}, store=store,
                                 opponents=["random"], eval_games=10)
    return folder, registry, doc


def test_the_clone_predicts_held_out_moves_better_than_chance_and_beats_random(cloned):
    folder, _, doc = cloned
    data = cl.read(folder / "data")
    train_files, held = data.split(0.2)
    columns = cl.load_columns(held, data.obs_dim, data.num_actions)
    chance = float(np.mean(1.0 / columns["mask"].sum(axis=1)))  # a uniformly random legal move
    assert doc["held_out_moves"] == len(columns["actions"]) > 0
    assert doc["held_out_accuracy"] > chance + 0.1, (doc, chance)
    assert doc["train_accuracy"] > chance + 0.1
    assert doc["epochs"] >= 30 and doc["samples"] >= 30 * doc["train_moves"]
    assert doc["scores"]["random"] > 0.5  # the heuristic's clone beats random


def test_the_clone_is_an_ordinary_snapshot_with_a_value_head_fitted_to_the_outcomes(cloned):
    from arena.plugins import snapshot

    folder, registry, doc = cloned
    path = folder / "snapshots" / "clone"
    meta, net = snapshot.load(path)
    assert meta["algo"] == "bc" and meta["hidden"] == list(HIDDEN) and meta["features"] == FEATURES
    assert meta["value"] == {"hidden": list(HIDDEN), "activation": "tanh", "gamma": 1.0}
    value = snapshot.load_value(path, meta)
    data = cl.read(folder / "data")
    columns = cl.load_columns(data.files, data.obs_dim, data.num_actions)
    import torch

    with torch.no_grad():
        predicted = value(torch.from_numpy(columns["x"])).squeeze(-1).numpy()
    mse = float(np.mean((predicted - columns["outcome"]) ** 2))
    assert mse < float(np.mean(columns["outcome"] ** 2))  # better than predicting a draw everywhere
    with open_store(folder / "a.db") as store:
        row = store.db.execute("SELECT kind, env, checkpoint FROM players WHERE id = 'snapshot/clone'").fetchone()
        rated = store.db.execute("SELECT games FROM ratings WHERE player = 'snapshot/clone'").fetchone()
    assert row == ("snapshot", doc["env"], str(path)) and rated[0] == 10


def test_a_ppo_learner_restored_from_the_clone_has_its_policy_and_critic(cloned):
    import torch

    from arena.plugins import snapshot
    from arena.plugins.rllib_algorithms import Resources, Session, TrainSpec

    folder, _, _ = cloned
    path = folder / "snapshots" / "clone"
    meta, net = snapshot.load(path)
    value = snapshot.load_value(path, meta)
    session = Session(TrainSpec(env=ENV, table={"random": 1.0}, hidden=HIDDEN, resources=Resources(**_small()),
                                hyperparameters={"train_batch_size_per_learner": 128, "minibatch_size": 64,
                                                 "num_epochs": 1}))
    try:
        session.restore(path)
        module = session.algo.learner_group._learner.module["main"]
        rng = np.random.default_rng(0)
        x = torch.from_numpy(rng.integers(0, 2, (5, meta["obs_dim"])).astype(np.float32))
        mask = torch.ones(5, meta["num_actions"])
        batch = {"obs": {"observations": x, "action_mask": mask}}
        with torch.no_grad():
            logits = module.forward_inference(batch)["action_dist_inputs"]
            values = module.compute_values(batch)
            assert torch.allclose(logits, net(x), atol=1e-5)
            assert torch.allclose(values, value(x).squeeze(-1), atol=1e-5)
    finally:
        session.stop()


def _small() -> dict:
    return {"num_envs_per_env_runner": 4}


def test_an_anchored_ppo_learner_s_reference_is_the_snapshot_it_started_from_across_a_resume(cloned, tmp_path):
    from arena.plugins.rllib_algorithms import Resources, Session, TrainSpec

    folder, _, _ = cloned
    path = folder / "snapshots" / "clone"
    hp = {"train_batch_size_per_learner": 128, "minibatch_size": 64, "num_epochs": 1, "lr": 1e-6}  # barely moves

    def session(anchor: float) -> Session:
        return Session(TrainSpec(env=ENV, table={"random": 1.0}, hidden=HIDDEN, resources=Resources(**_small()),
                                 hyperparameters={**hp, "anchor": anchor}))

    anchored = session(5.0)
    try:
        anchored.restore(path)
        first = anchored.algo.train()["learners"]["main"]["anchor_kl"]
        assert abs(first) < 1e-3  # it starts at the snapshot: the reference is that policy, not another
        anchored.save(tmp_path / "ckpt")
    finally:
        anchored.stop()
    resumed = session(5.0)
    try:
        resumed.load(tmp_path / "ckpt")  # a league's resume: the reference comes back with the checkpoint
        assert resumed.anchor == str(path.resolve())
        assert "anchor_kl" in resumed.algo.train()["learners"]["main"]
    finally:
        resumed.stop()
    plain = session(0.0)
    try:
        plain.restore(path)
        assert plain.anchor is None and "anchor_kl" not in plain.algo.train()["learners"]["main"]
    finally:
        plain.stop()


def test_arena_train_init_starts_ppo_from_the_clone_and_records_the_lineage(cloned, monkeypatch):
    folder, registry, _ = cloned
    monkeypatch.setenv("ARENA_SNAPSHOTS", str(folder / "snapshots"))
    with open_store(folder / "a.db") as store:
        doc = train(registry, store, TrainRequest(
            env=ENV, opponents={"random": 1.0}, init="snapshot/clone", stop_iterations=1, eval_games=4,
            hidden=HIDDEN, name="tuned", snapshots=folder / "snapshots", resources=_small(),
            hyperparameters={"train_batch_size_per_learner": 128, "minibatch_size": 64, "num_epochs": 1}))
        parent = store.db.execute("SELECT parent FROM players WHERE id = ?", [doc["final"]]).fetchone()[0]
    assert doc["init"] == "snapshot/clone" and parent == "snapshot/clone"
    meta = json.loads((folder / "snapshots" / doc["final"].removeprefix("snapshot/") / "meta.json").read_text())
    assert meta["algo"] == "ppo" and meta["iteration"] == 1


def _mean_entropy(path, columns) -> float:
    import torch

    from arena.plugins import snapshot

    _, net = snapshot.load(path)
    with torch.no_grad():
        logits = net(torch.from_numpy(columns["x"])).masked_fill(torch.from_numpy(columns["mask"]) <= 0, float("-inf"))
        p = torch.softmax(logits, dim=1)
        return float(-(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(dim=1).mean())


def test_a_teacher_s_probabilities_are_what_bc_imitates_and_lookahead_snapshots_play(cloned):
    """The heuristic's games labelled by `random` (uniform over the legal moves): the clone of those labels stays
    near uniform, where the clone of the heuristic's own moves (the same positions) became sure of its moves."""
    folder, registry, hard = cloned
    with pytest.MonkeyPatch.context() as mp, open_store(folder / "a.db") as store:
        mp.setenv("ARENA_SNAPSHOTS", str(folder / "snapshots"))
        ds.export(registry, store, env=ENV, out=folder / "soft", players=["connect_four_heuristic"], teacher="random",
                  lookahead=True)
        doc = cl.behaviour_clone(registry, ENV, folder / "soft", hidden=HIDDEN, seed=0, name="soft",
                                 snapshots_dir=folder / "snapshots", epochs=30, holdout=0.2,
                                 hyperparameters={"train_batch_size_per_learner": 64}, store=store,
                                 opponents=["random"], eval_games=10)
    data = cl.read(folder / "soft")
    assert data.teacher == "random" and data.features == 3
    columns = cl.load_columns(data.files, data.obs_dim, data.num_actions)
    uniform = float(np.mean(np.log(columns["mask"].sum(axis=1))))
    soft = _mean_entropy(folder / "snapshots" / "soft", columns)
    hard_data = cl.read(folder / "data")
    hard_entropy = _mean_entropy(folder / "snapshots" / "clone",
                                 cl.load_columns(hard_data.files, hard_data.obs_dim, hard_data.num_actions))
    assert soft > 0.9 * uniform, (soft, uniform)
    assert soft > hard_entropy + 0.2, (soft, hard_entropy)
    meta = json.loads((folder / "snapshots" / "soft" / "meta.json").read_text())
    assert meta["features"] == 3 and meta["obs_dim"] == data.obs_dim
    assert set(doc["scores"]) == {"random"}  # the lookahead snapshot played its evaluation games
