"""`arena.testing` and `arena check` on plugins registered at run time: a good game passes; a game or policy that
breaks the contract is reported in one useful line (check, seed, move, what to fix), never with a traceback."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from gymnasium import spaces
from pettingzoo import AECEnv
from pettingzoo.utils import AgentSelector

from arena import hookimpl, testing
from arena.errors import ParameterError, UnknownIdError
from arena.testing import ConformanceError, Failure, assert_passes, registry_with


class Tally(AECEnv):
    """Two players take turns for 10 moves, each adding 1, 2 or 3 (actions 0-2) to their own score, which is also
    their reward; a move may not repeat the move just played. `flaw` breaks one rule on purpose:
    "mask": the action mask allows the repeat, which step() then rejects;
    "rewards": last() does not accumulate the rewards (PettingZoo's api_test catches that);
    "observation": the observation leaves its space;
    "unseeded": a bonus reward comes from a generator that reset(seed) does not seed."""

    metadata = {"name": "tally_v0", "render_modes": []}
    MOVES = 10

    def __init__(self, flaw: str = ""):
        super().__init__()
        self.flaw = flaw
        self.possible_agents = ["player_0", "player_1"]
        self._observation_space = spaces.Dict({
            "observation": spaces.Box(-1.0, 40.0, (3,), np.float32),
            "action_mask": spaces.Box(0, 1, (3,), np.int8),
        })
        self._action_space = spaces.Discrete(3)
        self._bonus = np.random.default_rng()

    def observation_space(self, agent):
        return self._observation_space

    def action_space(self, agent):
        return self._action_space

    def reset(self, seed=None, options=None):
        self.agents = self.possible_agents[:]
        self.scores = {a: 0 for a in self.agents}
        self.last_move = -1
        self.moves = 0
        self.rewards = {a: 0 for a in self.agents}
        self._cumulative_rewards = {a: 0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self._selector = AgentSelector(self.agents)
        self.agent_selection = self._selector.reset()

    def observe(self, agent):
        other = next(a for a in self.possible_agents if a != agent)
        mask = np.ones(3, np.int8)
        if self.last_move >= 0 and self.flaw != "mask":
            mask[self.last_move] = 0
        own = 99.0 if self.flaw == "observation" and self.moves > 2 else float(self.scores[agent])
        return {"observation": np.array([own, self.scores[other], self.last_move], np.float32), "action_mask": mask}

    def step(self, action):
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        action = int(action)
        if action == self.last_move:
            raise ValueError(f"move {action} repeats the move just played")
        self._cumulative_rewards[agent] = 0
        self.scores[agent] += action + 1
        self.last_move = action
        self.moves += 1
        self.rewards = {a: 0 for a in self.agents}
        self.rewards[agent] = action + 1 + (int(self._bonus.integers(100)) if self.flaw == "unseeded" else 0)
        if self.moves >= self.MOVES:
            self.terminations = {a: True for a in self.agents}
        self.agent_selection = self._selector.next()
        if self.flaw != "rewards":
            self._accumulate_rewards()

    def render(self):
        return None

    def close(self):
        pass


def tally(flaw: str = "") -> Tally:
    return Tally(flaw)


def failing_factory():
    raise RuntimeError("the board file is missing")


def ninety_nine(observation, action_mask):
    return 99


def crashes(observation, action_mask):
    raise RuntimeError("boom")


class Unseeded:
    """Random legal moves from its own unseeded generator: a fresh instance does not replay a game."""

    def __init__(self):
        self.rng = np.random.default_rng()

    def act(self, legal_actions):
        return legal_actions[int(self.rng.integers(len(legal_actions)))]


class Rambling:
    """Declines every game, in two lines."""

    def check(self, game):
        return "it needs a board\nand a second line"

    def act(self, legal_actions):
        return legal_actions[0]


class TestPlugin:
    @hookimpl
    def register_envs(self, register):
        register("test/tally-v0", tally, description="A good PettingZoo game.")
        register("test/tally_mask-v0", tally, params={"flaw": "mask"})
        register("test/tally_rewards-v0", tally, params={"flaw": "rewards"})
        register("test/tally_observation-v0", tally, params={"flaw": "observation"})
        register("test/tally_unseeded-v0", tally, params={"flaw": "unseeded"})
        register("test/unbuildable-v0", failing_factory)

    @hookimpl
    def register_policies(self, register):
        register("test/ninety-nine", ninety_nine)
        register("test/crashes", crashes)
        register("test/unseeded", Unseeded)
        register("test/rambling", Rambling)


@pytest.fixture(scope="module")
def reg():
    return registry_with(TestPlugin())


def one_line(failures: list[Failure]) -> None:
    assert failures
    for f in failures:
        assert "\n" not in str(f) and str(f).startswith(f"{f.check}: {f.subject}: "), str(f)


# ---------------------------------------------------------------------------------------------------------------
# arena.testing
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ["test/tally-v0", "openspiel/tic_tac_toe"])
def test_good_game_and_random_pass_every_check(reg, env):
    assert testing.check_game(reg, env) == []
    assert testing.check_policy(reg, env, "random") == []
    assert testing.check_pettingzoo_api(reg, env) == []


def test_action_mask_that_allows_an_illegal_move_is_reported_with_seed_and_move(reg):
    failures = testing.check_game(reg, "test/tally_mask-v0")
    one_line(failures)
    play = [f for f in failures if f.check == "game.play"]
    assert play and play[0].seed == 0 and play[0].move is not None and play[0].move > 1
    assert "ValueError: move" in play[0].message and "repeats the move just played" in play[0].message
    assert "action mask allowed" in play[0].message  # what to fix
    assert f"seed 0, move {play[0].move}: step() (seat " in str(play[0])


def test_rewards_that_do_not_sum_up_fail_pettingzoos_api_test(reg):
    failures = testing.check_game(reg, "test/tally_rewards-v0")
    one_line(failures)
    assert [f.check for f in failures] == ["game.pettingzoo_api"]  # Arena's own adapter still plays it
    assert "api_test failed" in failures[0].message and "accumulated rewards" in failures[0].message


def test_observation_outside_its_space_is_reported(reg):
    failures = testing.check_random_games(reg, "test/tally_observation-v0", games=1)
    one_line(failures)
    assert failures[0].check == "game.play" and failures[0].seed == 0 and failures[0].move == 4
    assert "observation(1)" in failures[0].message and "outside observation_space" in failures[0].message


def test_game_that_ignores_its_seed_is_reported(reg):
    failures = testing.check_game(reg, "test/tally_unseeded-v0", seed=5)
    one_line(failures)
    assert failures[0].check == "game.seeds" and failures[0].seed == 5
    assert failures[0].message.startswith("replaying seed 5 on the same game object gave another game (same moves, "
                                          "but returns")
    assert "reset(seed)" in failures[0].message


def test_factory_that_raises_is_a_failure_and_an_unknown_id_an_error(reg):
    failures = testing.check_game(reg, "test/unbuildable-v0")
    one_line(failures)
    assert [f.check for f in failures] == ["game.build"]
    assert "RuntimeError: the board file is missing" in failures[0].message
    with pytest.raises(UnknownIdError):
        testing.check_game(reg, "test/no-such-game")
    with pytest.raises(UnknownIdError):
        testing.check_policy(reg, "test/tally-v0", "no-such-policy")
    with pytest.raises(ParameterError):
        testing.check_policy(reg, "test/tally-v0", "mcts:nope=1")


def test_policy_returning_an_illegal_action_is_reported(reg):
    failures = testing.check_policy(reg, "openspiel/tic_tac_toe", "test/ninety-nine")
    one_line(failures)
    assert [(f.check, f.seed) for f in failures] == [("policy.play", 0), ("policy.play", 1)]  # once per seat
    first = failures[0]
    assert first.move == 1 and first.subject == "test/ninety-nine on openspiel/tic_tac_toe"
    assert "test/ninety-nine in seat 0 forfeited: illegal action 99" in first.message
    assert "legal_actions" in first.message  # what to fix
    assert "seat 1 forfeited" in failures[1].message and failures[1].move == 2


def test_policy_that_raises_or_does_not_replay_is_reported(reg):
    crashed = testing.check_policy(reg, "test/tally-v0", "test/crashes")
    one_line(crashed)
    assert "raised RuntimeError: boom" in crashed[0].message and "must not raise" in crashed[0].message
    unseeded = testing.check_policy(reg, "openspiel/connect_four", "test/unseeded")
    one_line(unseeded)
    assert [f.check for f in unseeded] == ["policy.seeds"]
    assert "fresh instance" in unseeded[0].message and "rng argument" in unseeded[0].message


def test_decline_must_be_one_line(reg):
    assert testing.declined(reg, "test/tally-v0", "random") is None
    assert "cannot play test/tally-v0" in testing.declined(reg, "test/tally-v0", "test/rambling")
    failures = testing.check_policy(reg, "test/tally-v0", "test/rambling")
    assert [f.check for f in failures] == ["policy.decline"] and "give one line" in failures[0].message
    assert testing.check_policy_support(reg, "test/rambling", ["test/tally-v0"])[0].check == "policy.support"
    assert testing.check_policy_support(reg, "random", ["test/tally-v0"]) == []


def test_assert_passes_fails_with_every_line():
    assert_passes([])
    failures = [Failure("game.play", "x", "one", seed=3, move=2), Failure("game.seeds", "x", "two")]
    with pytest.raises(AssertionError) as e:
        assert_passes(failures)
    assert isinstance(e.value, ConformanceError) and e.value.failures == failures
    assert str(e.value).splitlines() == ["game.play: x: seed 3, move 2: one", "game.seeds: x: two"]


# ---------------------------------------------------------------------------------------------------------------
# arena check
# ---------------------------------------------------------------------------------------------------------------
def arena_check(reg, *args: str):
    from arena.cli import cli

    return CliRunner().invoke(cli, ["check", *args], obj=reg)


def test_check_passes_a_good_game_with_exit_status_0(reg):
    out = arena_check(reg, "test/tally-v0")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0].startswith("PASS  game   test/tally-v0 (game.play, game.seeds, game.pettingzoo_api)")
    assert lines[1].startswith("PASS  policy random")
    assert lines[-1] == "2 passed."


def test_check_reports_a_broken_game_and_policy_one_line_each_with_exit_status_1(reg):
    out = arena_check(reg, "test/tally-v0", "random", "test/ninety-nine", "test/rambling", "-n", "1")
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output
    lines = out.stdout.splitlines()
    assert lines[0].startswith("PASS  game") and lines[1].startswith("PASS  policy random")
    assert lines[2] == "FAIL  policy test/ninety-nine: 2 problems"
    assert lines[3].strip().startswith("policy.play: test/ninety-nine on test/tally-v0: seed 0, move 1: ")
    assert lines[5].startswith("FAIL  policy test/rambling: 1 problem (it declines the game: ")
    assert lines[-1] == "2 passed, 2 failed; 3 problems."
    broken = arena_check(reg, "test/tally_mask-v0")
    assert broken.exit_code == 1 and "FAIL  game   test/tally_mask-v0" in broken.stdout
    assert "SKIP  policy random: the game does not play to the end" in broken.stdout  # not the game's lines again
    assert "Traceback" not in broken.output


def test_check_json_shape(reg):
    out = arena_check(reg, "test/tally-v0", "test/ninety-nine", "--json", "--games", "1", "--seed", "4")
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    assert {k: doc[k] for k in ("env", "games", "seed", "passed")} == {"env": "test/tally-v0", "games": 1, "seed": 4,
                                                                      "passed": False}
    game, policy = doc["reports"]
    assert game == {"kind": "game", "id": "test/tally-v0", "status": "passed", "reason": None, "failures": [],
                    "checks": ["game.play", "game.seeds", "game.pettingzoo_api"]}
    assert (policy["kind"], policy["id"], policy["status"]) == ("policy", "test/ninety-nine", "failed")
    assert doc["failures"] == policy["failures"] and len(doc["failures"]) == 2
    assert doc["failures"][0] == {"check": "policy.play", "subject": "test/ninety-nine on test/tally-v0",
                                  "seed": 4, "move": 1, "message": doc["failures"][0]["message"]}
    assert "illegal action 99" in doc["failures"][0]["message"]


@pytest.mark.parametrize("args, needle", [
    (["test/no-such-game"], "Unknown env 'test/no-such-game'"),
    (["test/tally-v0", "no-such-policy"], "Unknown policy 'no-such-policy'"),
    (["test/tally-v0", "mcts:nope=1"], "no parameter 'nope'"),
])
def test_check_user_error_is_one_line_with_exit_status_2(reg, args, needle):
    out = arena_check(reg, *args)
    assert out.exit_code == 2, out.output
    assert out.stdout == ""
    assert out.stderr.startswith("Error: ") and needle in out.stderr and out.stderr.count("\n") == 1
