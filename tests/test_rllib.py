"""Training on RLlib: the MultiAgentEnv bridge, masked modules, and a tiny PPO session on real Ray."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ray.rllib")

from arena.plugins.rllib_env import SELF, ArenaMultiAgentEnv, IllegalActionError  # noqa: E402


def play(env: ArenaMultiAgentEnv, rng: np.random.Generator, legal: bool = True):
    """One episode with random (legal) actions; returns summed rewards per agent and the last step's rewards."""
    obs, _ = env.reset()
    totals: dict[str, float] = {}
    while True:
        actions = {a: int(rng.choice(np.flatnonzero(o["action_mask"]) if legal else
                                     np.flatnonzero(o["action_mask"] == 0))) for a, o in obs.items()}
        obs, rewards, terminated, truncated, _ = env.step(actions)
        for agent, r in rewards.items():
            totals[agent] = totals.get(agent, 0.0) + r
        if terminated["__all__"]:
            return totals, rewards, actions


def test_self_play_gives_the_final_outcome_to_both_seats_including_the_one_that_did_not_move_last():
    env = ArenaMultiAgentEnv({"env": "openspiel/connect_four", "table": {SELF: 1.0}, "seed": 3})
    rng = np.random.default_rng(0)
    decided = 0
    for _ in range(10):
        totals, last_rewards, last_actions = play(env, rng)
        assert set(totals) == {"main:0", "main:1"} and totals["main:0"] == -totals["main:1"]
        if totals["main:0"] != 0:
            decided += 1
            (mover,) = last_actions
            other = ({"main:0", "main:1"} - {mover}).pop()
            assert last_rewards[other] == -last_rewards[mover] != 0  # the outcome reaches the seat that waited
    assert decided >= 5


def test_opponents_play_inside_the_env_and_the_table_can_change():
    env = ArenaMultiAgentEnv({"env": "pettingzoo/connect_four_v3", "table": {"connect_four_heuristic": 1.0},
                              "seed": 1})
    rng = np.random.default_rng(1)
    seats = set()
    for _ in range(8):
        totals, _, _ = play(env, rng)
        (agent,) = totals
        seats.add(agent)
    assert seats == {"main:0", "main:1"}  # the learner plays both seats over episodes
    outcomes = env.take_outcomes()
    assert len(outcomes) == 8 and {o for o, _ in outcomes} == {"connect_four_heuristic"}
    assert sum(score for _, score in outcomes) <= 2  # random moves rarely beat the heuristic
    env.set_table({"random": 1.0})
    play(env, rng)
    assert env.take_outcomes()[0][0] == "random"
    with pytest.raises(ValueError):
        env.set_table({"random": 0.0})


def test_an_illegal_learner_action_is_refused_not_replaced():
    env = ArenaMultiAgentEnv({"env": "openspiel/tic_tac_toe", "table": {"random": 1.0}, "seed": 2})
    obs, _ = env.reset()
    (agent, o), = obs.items()
    taken = int(np.flatnonzero(o["action_mask"])[0])
    env.step({agent: taken})
    obs, _ = env.reset()
    (agent, o), = obs.items()
    env.step({agent: int(np.flatnonzero(o["action_mask"])[0])})
    obs = env._observations()
    (agent, o), = obs.items()
    with pytest.raises(IllegalActionError):
        env.step({agent: int(np.flatnonzero(o["action_mask"] == 0)[0])})
    assert env.illegal_actions == 1


@pytest.mark.parametrize("module_name", ["MaskedPPOTorchRLModule", "MaskedAPPOTorchRLModule"])
def test_masked_modules_never_sample_an_illegal_action(module_name):
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    import arena.plugins.rllib_modules as modules

    env = ArenaMultiAgentEnv({"env": "openspiel/connect_four", "seed": 0})
    space = env.observation_spaces["main:0"]
    module = RLModuleSpec(module_class=getattr(modules, module_name), observation_space=space,
                          action_space=env.action_spaces["main:0"], model_config={"fcnet_hiddens": [16]}).build()
    rng = np.random.default_rng(0)
    mask = (rng.random((256, 7)) < 0.4).astype(np.float32)
    mask[np.arange(256), rng.integers(7, size=256)] = 1.0
    width = space["observations"].shape[0]
    batch = {Columns.OBS: {"observations": torch.from_numpy(rng.normal(size=(256, width)).astype(np.float32)),
                           "action_mask": torch.from_numpy(mask)}}
    for forward in (module.forward_exploration, module.forward_inference):
        logits = forward(dict(batch))[Columns.ACTION_DIST_INPUTS]
        dist = torch.distributions.Categorical(logits=logits)
        samples = dist.sample((50,)).numpy()
        assert mask[np.arange(256), samples].all()
    if hasattr(module, "forward_target"):
        from ray.rllib.core.rl_module.apis.target_network_api import TARGET_NETWORK_ACTION_DIST_INPUTS

        module.make_target_networks()
        target = module.forward_target(dict(batch))[TARGET_NETWORK_ACTION_DIST_INPUTS]
        assert (torch.softmax(target, -1).detach().numpy()[mask == 0] < 1e-6).all()


def test_masked_dqn_explores_acts_and_bootstraps_only_through_legal_actions():
    import torch
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS, QF_TARGET_NEXT_PREDS
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from arena.plugins.rllib_modules import MaskedDQNTorchRLModule

    env = ArenaMultiAgentEnv({"env": "openspiel/connect_four", "seed": 0})
    config = DQNConfig().rl_module(model_config={"fcnet_hiddens": [16], "head_fcnet_hiddens": []})
    module = RLModuleSpec(module_class=MaskedDQNTorchRLModule, observation_space=env.observation_spaces["main:0"],
                          action_space=env.action_spaces["main:0"], model_config=config.model_config,
                          inference_only=False).build()
    rng = np.random.default_rng(0)
    mask = (rng.random((256, 7)) < 0.4).astype(np.float32)
    mask[np.arange(256), rng.integers(7, size=256)] = 1.0
    width = env.observation_spaces["main:0"]["observations"].shape[0]
    obs = {"observations": torch.from_numpy(rng.normal(size=(256, width)).astype(np.float32)),
           "action_mask": torch.from_numpy(mask)}
    for t in (0, 10**9):  # epsilon 1.0 (all random) and its floor (mostly greedy)
        actions = module.forward_exploration({Columns.OBS: obs}, t=t)[Columns.ACTIONS].numpy()
        assert mask[np.arange(256), actions].all()
    greedy = module.forward_inference({Columns.OBS: obs})[Columns.ACTIONS].numpy()
    assert mask[np.arange(256), greedy].all()
    terminal = {"observations": obs["observations"], "action_mask": torch.zeros_like(obs["action_mask"])}
    module.make_target_networks()
    out = module.forward_train({Columns.OBS: obs, Columns.NEXT_OBS: terminal})
    assert torch.isinf(out[QF_PREDS][torch.from_numpy(mask) == 0]).all()
    assert torch.isinf(out[QF_TARGET_NEXT_PREDS]).all()  # RLlib's loss reads -inf as "no bootstrap value"


def test_dqn_trains_on_real_rllib_and_freezes_a_snapshot_that_acts_like_it(tmp_path):
    import ray
    import torch
    from ray.rllib.core.columns import Columns

    from arena.plugins import snapshot
    from arena.plugins.rllib_algorithms import Session, TrainSpec

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        s = Session(TrainSpec(env="openspiel/tic_tac_toe", algo="dqn", table={"random": 1.0}, hidden=(16,),
                              hyperparameters={"num_steps_sampled_before_learning_starts": 100,
                                               "train_batch_size_per_learner": 32}))
        for _ in range(3):
            result = s.train()
        assert result["env_steps"] > 100 and s.illegal_actions() == 0
        meta, net = snapshot.load(s.snapshot("dqn", directory=tmp_path / "dqn"))
        assert meta["algo"] == "dqn"
        rng = np.random.default_rng(1)
        mask = (rng.random((64, 9)) < 0.5).astype(np.float32)
        mask[np.arange(64), rng.integers(9, size=64)] = 1.0
        x = torch.from_numpy(rng.normal(size=(64, meta["obs_dim"])).astype(np.float32))
        greedy = s.module().forward_inference({Columns.OBS: {"observations": x, "action_mask": torch.from_numpy(mask)}})
        frozen = torch.where(torch.from_numpy(mask) > 0, net(x), float("-inf")).argmax(-1)
        assert (greedy[Columns.ACTIONS] == frozen).all()
        s.stop()
    finally:
        ray.shutdown()


def test_a_crashed_env_runner_is_restarted_and_training_goes_on():
    import os
    import signal
    import time

    import ray

    from arena.plugins.rllib_algorithms import Resources, Session, TrainSpec

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        s = Session(TrainSpec(env="openspiel/tic_tac_toe", table={"random": 1.0}, hidden=(16,),
                              hyperparameters={"train_batch_size_per_learner": 128, "minibatch_size": 64,
                                               "num_epochs": 1},
                              resources=Resources(num_env_runners=1, num_envs_per_env_runner=2)))
        s.train()
        group = s.algo.env_runner_group
        [pid] = group.foreach_env_runner(lambda runner: os.getpid(), local_env_runner=False)
        assert pid != os.getpid()
        os.kill(pid, signal.SIGKILL)  # the EnvRunner actor's process, started by this test's Ray
        steps = s.env_steps
        deadline = time.monotonic() + 90  # Ray restarts the actor in its own time; iterations without it are quick
        while time.monotonic() < deadline:
            s.train()
            if group.num_healthy_remote_workers() == 1 and s.env_steps > steps:
                break
        assert group.num_healthy_remote_workers() == 1 and s.env_steps > steps
        [new_pid] = group.foreach_env_runner(lambda runner: os.getpid(), local_env_runner=False)
        assert new_pid != pid and s.illegal_actions() == 0
        s.stop()
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One tiny PPO session on a local 2-CPU Ray, shared by the tests below; Ray is shut down afterwards."""
    import ray

    from arena.plugins.rllib_algorithms import Session, TrainSpec

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    s = Session(TrainSpec(env="openspiel/connect_four", table={"random": 1.0}, hidden=(32, 32),
                          hyperparameters={"train_batch_size_per_learner": 256, "minibatch_size": 64,
                                           "num_epochs": 1}))
    s.first = s.train()
    yield s
    s.stop()
    ray.shutdown()


def test_ppo_trains_on_real_rllib_with_masking_and_a_changing_opponent_mix(session):
    assert session.first["env_steps"] >= 256 and set(session.first["outcomes"]) == {"random"}
    session.set_table({"connect_four_heuristic": 1.0})
    second = session.train()
    second = session.train() if "connect_four_heuristic" not in second["outcomes"] else second
    assert "connect_four_heuristic" in second["outcomes"]
    assert session.illegal_actions() == 0


def test_a_snapshot_plays_like_the_module_and_anywhere_without_ray(session, tmp_path, monkeypatch):
    import json
    import os
    import subprocess
    import sys

    import torch
    from ray.rllib.core.columns import Columns

    from arena.plugins import snapshot

    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path))
    folder = session.snapshot("c4", parent="main")
    meta, net = snapshot.load(folder)
    assert meta["env"] == "openspiel/connect_four-v0" and meta["parent"] == "main" and meta["iteration"] >= 1
    env = ArenaMultiAgentEnv({"env": "openspiel/connect_four", "table": {"random": 1.0}, "seed": 5})
    obs, _ = env.reset()
    (_, o), = obs.items()
    batch = {Columns.OBS: {k: torch.from_numpy(v[None]) for k, v in o.items()}}
    expected = session.module().forward_inference(batch)[Columns.ACTION_DIST_INPUTS][0].detach().numpy()
    legal = o["action_mask"] > 0
    assert np.abs(net(torch.from_numpy(o["observations"])).detach().numpy()[legal] - expected[legal]).max() < 1e-5
    with pytest.raises(snapshot.SnapshotError, match="written once"):
        session.snapshot("c4")
    code = ("import sys, json\n"
            "from arena.registry import Registry\nfrom arena.match import play_match\n"
            "r = Registry(); g = r.make_game('openspiel/connect_four')\n"
            "ps = [r.make_policy('snapshot/c4'), r.make_policy('random')]\n"
            "res = [x for _, x in play_match(g, ps, 6, 1)]\n"
            "print(json.dumps({'ray': 'ray' in sys.modules, 'forfeits': sum(len(x.forfeits) for x in res)}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"ray": False, "forfeits": 0}


def test_bad_snapshots_give_one_line(session, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    arena = str(Path(sys.executable).with_name("arena"))
    env = {**os.environ, "ARENA_SNAPSHOTS": str(tmp_path)}
    session.snapshot("good", directory=tmp_path / "good")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meta.json").write_text((tmp_path / "good" / "meta.json").read_text())

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    import pickle

    (tmp_path / "bad" / "weights.pt").write_bytes(pickle.dumps(Evil()))
    for args, fragment in [(["snapshot/bad", "random"], "cannot be loaded (UnpicklingError)"),
                           (["snapshot/god", "random"], "Did you mean 'good'"),
                           (["random", "snapshot/good"], None)]:
        out = subprocess.run([arena, "match", "openspiel/connect_four", *args, "-n", "2"], capture_output=True,
                             text=True, env=env)
        if fragment is None:
            assert out.returncode == 0, out.stderr
            continue
        assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr
        assert "pwned" not in out.stdout + out.stderr
    out = subprocess.run([arena, "match", "pettingzoo/tictactoe_v3", "snapshot/good", "random"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "trained on openspiel/connect_four-v0" in out.stderr


def test_unknown_hyperparameters_are_one_clear_error():
    from arena.errors import ParameterError
    from arena.plugins.rllib_algorithms import TrainSpec, _config

    with pytest.raises(ParameterError, match="ppo has no hyperparameter lrr"):
        _config(TrainSpec(env="openspiel/connect_four", hyperparameters={"lrr": 0.1}))


def test_arena_train_end_to_end_leaves_rated_snapshots_with_lineage(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    arena = str(Path(sys.executable).with_name("arena"))
    env = {**os.environ, "ARENA_SNAPSHOTS": str(tmp_path / "snaps")}
    db = str(tmp_path / "t.db")
    out = subprocess.run([arena, "train", "openspiel/tic_tac_toe", "--opponents", "random,constant@0.5",
                          "--stop-iterations", "2", "--snapshot-every", "1", "--hidden", "16", "--eval-games", "4",
                          "--hp", "train_batch_size_per_learner=128", "--hp", "minibatch_size=64",
                          "--hp", "num_epochs=1", "--name", "ttt", "--db", db],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "iter    2" in out.stderr and "illegal actions sampled: 0" in out.stderr
    assert "Final snapshot: snapshot/ttt-it2" in out.stdout
    listed = json.loads(subprocess.run([arena, "snapshots", "--json"], capture_output=True, text=True,
                                       env=env).stdout)
    assert [s["policy"] for s in listed] == ["snapshot/ttt-it1", "snapshot/ttt-it2"]
    assert listed[1]["parent"] == "snapshot/ttt-it1"
    board = json.loads(subprocess.run([arena, "leaderboard", "--json", "--db", db], capture_output=True,
                                      text=True, env=env).stdout)
    row = {r["player"]: r for r in board}["snapshot/ttt-it2"]
    import sqlite3

    with sqlite3.connect(db) as conn:
        kind, parent = conn.execute("SELECT kind, parent FROM players WHERE id = 'snapshot/ttt-it2'").fetchone()
        played = conn.execute("SELECT q.player, m.replay_of IS NULL FROM participants p JOIN matches m "
                              "ON m.seq = p.match_seq JOIN participants q ON q.match_seq = m.seq AND q.seat != p.seat "
                              "WHERE p.player = 'snapshot/ttt-it2'").fetchall()
    assert (kind, parent) == ("snapshot", "snapshot/ttt-it1")
    assert len(played) == 8  # 4 evaluation games against each opponent, all stored
    # the greedy snapshot against constant plays one game per seat, replayed: those two are rated, the rest not
    assert sum(rated for opponent, rated in played if opponent == "constant") == 2
    assert row["games"] == sum(rated for _, rated in played)


@pytest.mark.parametrize("args,fragment", [
    (["--opponents", "randm"], "Did you mean 'random'"),
    (["--opponents", "mcts"], "needs the game's native state"),
    (["--algo", "ppp"], "Unknown algorithm 'ppp'"),
    (["--hp", "lrr=0.1"], "has no hyperparameter lrr"),
    (["--opponents", "random@-1"], "positive finite weight"),
])
def test_arena_train_rejects_bad_input_before_ray_starts(args, fragment):
    import subprocess
    import sys
    from pathlib import Path

    arena = str(Path(sys.executable).with_name("arena"))
    out = subprocess.run([arena, "train", "pettingzoo/tictactoe_v3", *args], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr
    assert "Started a local Ray" not in out.stderr


def test_opponents_held_in_memory_are_bounded_and_reload_on_demand():
    table = {"random": 1.0, "constant": 1.0, "constant:action=1": 1.0, "constant:action=2": 1.0}
    env = ArenaMultiAgentEnv({"env": "openspiel/tic_tac_toe", "table": table, "seed": 4,
                              "max_loaded_opponents": 2})
    rng = np.random.default_rng(4)
    met = set()
    for _ in range(24):
        play(env, rng)
        met.add(env.opponent)
        shared = env.shared.opponents.policies  # this process's, shared by its envs
        assert len(shared) <= 2 and f"{env.game.info.env_id}|{env.opponent}" in shared
    assert met == set(table)


def test_envs_of_one_process_share_one_registry_per_block_list(monkeypatch):
    import arena.plugin_manager
    from arena.errors import UnknownIdError
    from arena.plugins.rllib_env import _shared

    scans = []
    real = arena.plugin_manager.get_plugin_manager
    monkeypatch.setattr(arena.plugin_manager, "get_plugin_manager", lambda **kw: scans.append(kw) or real(**kw))
    _shared.cache_clear()
    try:
        config = {"env": "openspiel/tic_tac_toe", "table": {"random": 1.0}}
        envs = [ArenaMultiAgentEnv({**config, "seed": s}) for s in range(3)]
        assert len(scans) == 1 and all(env.registry is envs[0].registry for env in envs)
        assert envs[0].shared.opponents is envs[2].shared.opponents
        # the driver's block list travels in env_config, and wins over this process's environment
        monkeypatch.setenv("ARENA_BLOCK_PLUGINS", "arena.plugins.random_policy")
        blocked = ArenaMultiAgentEnv({**config, "table": {"mcts": 1.0}, "blocked": ["arena.plugins.mcts"]})
        assert len(scans) == 2 and scans[-1]["block"] == ("arena.plugins.mcts",)
        assert blocked.registry is not envs[0].registry and blocked.registry.make_policy("random")
        with pytest.raises(UnknownIdError):
            blocked.reset(seed=0)  # mcts is not loaded in this registry
        assert ArenaMultiAgentEnv({**config, "blocked": ["arena.plugins.mcts"]}).registry is blocked.registry
    finally:
        _shared.cache_clear()


def test_envs_of_one_env_runner_share_stateless_opponents_but_not_search_state():
    envs = [ArenaMultiAgentEnv({"env": "openspiel/tic_tac_toe", "table": {"random": 1.0, "mcts:simulations=4": 1.0},
                                "seed": s}) for s in range(2)]
    assert envs[0]._policy("random", 1) is envs[1]._policy("random", 0)  # one object for the whole EnvRunner
    mcts = [env._policy("mcts:simulations=4", seat) for env in envs for seat in (0, 1)]
    assert len({id(m) for m in mcts}) == 4  # MCTS keeps per-game state: its own instance per env and seat
    assert envs[0]._policy("mcts:simulations=4", 0) is mcts[0]  # and keeps it across episodes
    rng = np.random.default_rng(0)
    for _ in range(6):
        for env in envs:
            play(env, rng)
    assert sum(len(env.take_outcomes()) for env in envs) == 12


def _sigint_as_from_a_terminal() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_stops_training_cleanly_and_keeps_a_rated_snapshot(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    arena = str(Path(sys.executable).with_name("arena"))
    env = {**os.environ, "ARENA_SNAPSHOTS": str(tmp_path / "snaps")}
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([arena, "train", "openspiel/tic_tac_toe", "--opponents", "random", "--stop-minutes",
                                 "5", "--hidden", "16", "--eval-games", "4", "--name", "cc", "--db",
                                 str(tmp_path / "t.db"), "--hp", "train_batch_size_per_learner=128",
                                 "--hp", "minibatch_size=64", "--hp", "num_epochs=1"],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                                # as from a terminal: earlier in-process tests may leave this process ignoring or
                                # blocking SIGINT, which a child inherits (Python then never raises KeyboardInterrupt)
                                preexec_fn=_sigint_as_from_a_terminal)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "iter    2 " not in log.read_text():
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("arena train did not stop within 240 s of Ctrl-C; its stderr ends: "
                        + log.read_text()[-1500:], pytrace=False)
    text = log.read_text()
    assert proc.returncode == 0, text[-2000:]
    assert "Stopped (interrupted)" in text and "Traceback" not in text
    assert "Final snapshot: snapshot/cc-it" in out
    assert list((tmp_path / "snaps").glob("cc-it*/weights.pt"))


def test_a_learner_restored_from_a_snapshot_plays_like_the_snapshot(session, tmp_path):
    import torch
    from ray.rllib.core.columns import Columns

    from arena.plugins import snapshot

    before = session.snapshot("before", directory=tmp_path / "before")
    session.train()  # the learner moves on
    env = ArenaMultiAgentEnv({"env": "openspiel/connect_four", "table": {"random": 1.0}, "seed": 9})
    obs, _ = env.reset()
    (_, o), = obs.items()
    batch = {Columns.OBS: {k: torch.from_numpy(v[None]) for k, v in o.items()}}
    _, net = snapshot.load(before)
    saved = net(torch.from_numpy(o["observations"])).detach().numpy()
    legal = o["action_mask"] > 0
    moved_on = session.module().forward_inference(dict(batch))[Columns.ACTION_DIST_INPUTS][0].detach().numpy()
    assert np.abs(moved_on[legal] - saved[legal]).max() > 1e-6
    meta, _ = snapshot.load(before)
    saved_value = float(snapshot.load_value(before, meta)(torch.from_numpy(o["observations"]))[0])
    learner_module = session.algo.learner_group._learner.module["main"]
    moved_on_value = float(learner_module.compute_values(dict(batch))[0])
    assert abs(moved_on_value - saved_value) > 1e-7
    session.restore(before)
    restored = session.module().forward_inference(dict(batch))[Columns.ACTION_DIST_INPUTS][0].detach().numpy()
    assert np.abs(restored[legal] - saved[legal]).max() < 1e-5
    # the snapshot kept the critic too: restoring brings its value head back
    assert abs(float(learner_module.compute_values(dict(batch))[0]) - saved_value) < 1e-5
    assert session.train()["env_steps"] > 0  # training goes on from the restored policy


def test_a_frozen_snapshot_can_be_a_training_opponent(session, tmp_path):
    folder = session.snapshot("opponent", directory=tmp_path / "opponent")
    spec = f"snapshot/{folder}"
    session.set_table({spec: 1.0})
    result = session.train()
    result = session.train() if spec not in result["outcomes"] else result
    assert spec in result["outcomes"] and session.illegal_actions() == 0
    session.set_table({"random": 1.0})



def test_episodes_start_from_random_openings_of_up_to_k_plies():
    from ray.rllib.algorithms.ppo import PPOConfig

    from arena.plugins.rllib_algorithms import _unknown_hyperparameters

    def before_first_move(plies: int) -> set[int]:
        env = ArenaMultiAgentEnv({"env": "openspiel/connect_four", "table": {"random": 1.0}, "seed": 4,
                                  "opening_plies": plies})
        seen = set()
        for _ in range(40):
            obs, _ = env.reset()
            (agent, o), = obs.items()
            stones = int(o["observations"][:84].sum())  # the two players' planes of OpenSpiel's tensor
            assert stones == len(env._moves)  # the opening is on the board and in the move history
            seen.add(stones)
        return seen

    assert before_first_move(0) <= {0, 1}  # the empty board, or the bot's first move
    opened = before_first_move(4)
    assert max(opened) >= 4 and len(opened) >= 4
    assert "opening_plies must be" in _unknown_hyperparameters("ppo", PPOConfig(), {"opening_plies": -1})
    assert _unknown_hyperparameters("ppo", PPOConfig(), {"opening_plies": 4, "lr": 0.001}) is None
