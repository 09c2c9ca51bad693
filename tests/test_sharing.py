"""Training on simulations: which module plays which agent (sharing = all, team, agent or a table), learners bound
to one team, team outcomes, multi-network snapshots that keep to their team, and the league file's checks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arena.learners import mapping_problem, seat_modules
from arena.registry import Registry

ARENA = str(Path(sys.executable).with_name("arena"))


@pytest.fixture(scope="module")
def tag():
    game = Registry().make_game("mpe/simple_tag")
    game.close()
    return game.info


def test_sharing_maps_agents_to_one_module_per_game_team_or_agent(tag):
    assert seat_modules(tag, "all") == ["main"] * 4
    assert seat_modules(tag, "team") == ["adversaries"] * 3 + ["good"]
    assert seat_modules(tag, "agent") == ["adversary_0", "adversary_1", "adversary_2", "agent_0"]
    table = {"chasers": ["adversary_0", "adversary_1"], "blocker": ["adversary_2"]}
    assert seat_modules(tag, table) == ["chasers", "chasers", "blocker", ""]
    assert mapping_problem(tag, table, "adversaries") is None  # the prey is the opponents' to play


@pytest.mark.parametrize("sharing,team,fragment", [
    ({"chasers": ["adversary_0", "adversary_1"]}, "adversaries", "agent adversary_2 is mapped to no module"),
    ({"a": ["adversary_0"], "b": ["adversary_0", "adversary_1", "adversary_2"]}, None, "more than one module"),
    ({"a": ["predator_9"]}, None, "has no agent predator_9"),
    ("teams", None, "sharing must be one of all, team, agent"),
    ("team", "prey", "has no team 'prey'"),
])
def test_a_mapping_that_does_not_fit_the_agents_is_named(tag, sharing, team, fragment):
    assert fragment in mapping_problem(tag, sharing, team)


def test_league_validate_refuses_an_agent_mapped_to_no_module_and_names_the_key(tmp_path):
    text = Path("leagues/simple_tag.toml").read_text().replace(
        '\nsharing = "team"', '\nsharing = { chasers = ["adversary_0", "adversary_1"] }', 1)
    (tmp_path / "bad.toml").write_text(text)
    out = subprocess.run([ARENA, "league", "validate", str(tmp_path / "bad.toml")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "learners[0].sharing: agent adversary_2 is mapped to no module" in out.stderr
    lonely = Path("leagues/simple_tag.toml").read_text().split("[[fixed]]")[0]  # no fixed player, one learner...
    lonely = lonely.split("[[learners]]\nname = \"prey\"")[0] + "[stop]\nminutes = 1\n"
    (tmp_path / "lonely.toml").write_text(lonely)
    out = subprocess.run([ARENA, "league", "validate", str(tmp_path / "lonely.toml")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "learners[0].team: nobody plays the teams other than adversaries" in out.stderr


ray_rllib = pytest.importorskip("ray.rllib")


def _episode(env, rng):
    obs, _ = env.reset()
    agents = set(obs)
    while True:
        obs, rewards, terminated, truncated, _ = env.step({a: int(rng.integers(5)) for a in obs})
        if terminated["__all__"] or truncated["__all__"]:
            return agents, terminated, truncated, obs


def test_a_learner_bound_to_a_team_plays_its_agents_with_its_modules_and_scores_against_the_other_team():
    from arena.plugins.rllib_env import ArenaMultiAgentEnv

    env = ArenaMultiAgentEnv({"env": "mpe/simple_tag", "table": {"mpe-chase": 1.0}, "seed": 0, "sharing": "agent",
                              "team": "good"})
    rng = np.random.default_rng(0)
    for _ in range(3):
        agents, terminated, truncated, last = _episode(env, rng)
        assert agents == {"agent_0:3"}  # only the prey, every episode
        # MPE ends every episode at max_cycles: a truncation, with the final observation to bootstrap from
        assert truncated["__all__"] and not terminated["__all__"] and set(last) == {"agent_0:3"}
    outcomes = env.take_outcomes()
    assert len(outcomes) == 3 and all(o == "mpe-chase" and 0 <= s <= 1 for o, s in outcomes)
    assert sum(s for _, s in outcomes) <= 1  # a random prey rarely out-scores chasing predators
    with pytest.raises(ValueError, match="cannot play itself"):
        env.set_table({"self": 1.0})


def test_a_cooperative_learner_plays_every_agent_with_one_module_and_reports_the_team_return():
    from arena.plugins.rllib_env import ArenaMultiAgentEnv

    env = ArenaMultiAgentEnv({"env": "mpe/simple_spread", "seed": 1})
    agents, *_ = _episode(env, np.random.default_rng(1))
    assert agents == {"main:0", "main:1", "main:2"}
    (team_return,) = env.take_returns()
    assert team_return == pytest.approx(float(np.mean(env.game.returns()))) and team_return < 0
    assert env.take_outcomes() == []


def test_a_team_learner_with_a_module_per_agent_freezes_one_network_each_and_keeps_to_its_team(tmp_path,
                                                                                                monkeypatch):
    import json

    import ray

    from arena.plugins.rllib_algorithms import Resources, Session, TrainSpec

    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path))
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    session = Session(TrainSpec(env="mpe/simple_tag", table={"mpe-flee": 1.0}, hidden=(16,),
                                hyperparameters={"sharing": "agent", "team": "adversaries",
                                                 "train_batch_size_per_learner": 200, "minibatch_size": 100,
                                                 "num_epochs": 1},
                                resources=Resources(num_envs_per_env_runner=2)))
    try:
        result = session.train()
        assert set(result["outcomes"]) == {"mpe-flee"} and result["illegal_actions"] == 0
        folder = session.snapshot("pred", directory=tmp_path / "pred")
    finally:
        session.stop()
        ray.shutdown()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["modules"] == ["adversary_0", "adversary_1", "adversary_2"]
    assert meta["seat_nets"] == [0, 1, 2, None]
    assert sorted(p.name for p in folder.glob("weights*.pt")) == ["weights-1.pt", "weights-2.pt", "weights.pt"]
    out = subprocess.run([ARENA, "match", "mpe/simple_tag", "mpe-flee", "snapshot/pred", "-n", "4", "--json"],
                         capture_output=True, text=True, timeout=120, env={**__import__("os").environ,
                                                                          "ARENA_SNAPSHOTS": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-1500:]
    doc = json.loads(out.stdout)
    # seated on the predators in every game, whichever order it was given in
    assert all(r["players"][0] == "snapshot/pred" for r in doc["results"]) and not doc["forfeits"]
    out = subprocess.run([ARENA, "match", "mpe/simple_tag", "snapshot/pred", "snapshot/pred"], capture_output=True,
                         text=True, timeout=120, env={**__import__("os").environ, "ARENA_SNAPSHOTS": str(tmp_path)})
    assert out.returncode == 2 and "No seating of these players fits" in out.stderr and "Traceback" not in out.stderr
