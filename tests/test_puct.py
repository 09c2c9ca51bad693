"""The `puct` policy: PUCT on a snapshot's policy and value heads, with networks built by hand so their answers are
known (all-zero weights: uniform priors and value 0; a value head that prizes one move; a random initialisation)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from arena.errors import ArenaError, IncompatiblePolicyError, ParameterError  # noqa: E402
from arena.match import play_game, play_lockstep  # noqa: E402
from arena.plugin_manager import get_plugin_manager  # noqa: E402
from arena.plugins import puct as puct_module  # noqa: E402
from arena.plugins import snapshot  # noqa: E402
from arena.plugins.puct import PUCTPolicy  # noqa: E402
from arena.registry import Registry  # noqa: E402
from arena.settings import SNAPSHOTS_ENV_VAR  # noqa: E402

C4 = "openspiel/connect_four"
PLUGIN = "arena.plugins.puct"


def registry() -> Registry:
    """The built-in plugins, with puct added if it is not one of them yet."""
    pm = get_plugin_manager(entry_points=False)
    if pm.get_plugin(PLUGIN) is None:
        pm.register(puct_module, name=PLUGIN)
    return Registry(pm)


REG = registry()


def make_snapshot(directory: Path, env: str = C4, *, value: bool = True, seed: int | None = None,
                  hidden: tuple[int, ...] = (), value_hidden: tuple[int, ...] | None = None, edit=None) -> Path:
    """A snapshot folder for `env`. seed=None: every weight zero (uniform priors, value 0); else a random
    initialisation. `edit(policy_net, value_net)` then sets what a test needs; a value head with `value_hidden` layers
    uses relu."""
    info = REG.make_game(env).info
    meta = {"env": info.env_id, "algo": "test", "obs_dim": snapshot.feature_dim(info), "num_actions": info.num_actions,
            "hidden": list(hidden), "activation": "tanh", "features": snapshot.FEATURES,
            "value": None}
    if value:
        meta["value"] = ({"hidden": list(hidden), "activation": "tanh", "gamma": 1.0} if value_hidden is None else
                         {"hidden": list(value_hidden), "activation": "relu", "gamma": 1.0})
    if seed is not None:
        torch.manual_seed(seed)
    policy_net = snapshot.build_net(meta)
    value_net = snapshot.build_net({**meta, **meta["value"]}, outputs=1) if value else None
    with torch.no_grad():
        for net in (policy_net, value_net):
            if net is not None and seed is None:
                for p in net.parameters():
                    p.zero_()
        if edit is not None:
            edit(policy_net, value_net)
    return snapshot.save(directory, policy_net.state_dict(), meta, value_net.state_dict() if value else None)


@pytest.fixture(scope="module")
def uniform(tmp_path_factory) -> Path:
    return make_snapshot(tmp_path_factory.mktemp("snaps") / "uniform")


@pytest.fixture(scope="module")
def random_net(tmp_path_factory) -> Path:
    return make_snapshot(tmp_path_factory.mktemp("snaps") / "random", seed=0, hidden=(64, 64))


def position(moves: list[int]):
    """(game, native state, history) of Connect Four after these moves (players alternate, x first)."""
    game = REG.make_game(C4)
    game.reset(0)
    history = []
    for ply, action in enumerate(moves):
        game.step({ply % 2: action})
        history.append((ply % 2, action))
    return game, game.native_state(), history


def move(policy: PUCTPolicy, moves: list[int], seed: int = 0) -> int:
    game, state, history = position(moves)
    return policy.act(state=state, seat=state.current_player(), rng=np.random.default_rng(seed), game=game.info,
                      history=history)


def score(policy_spec: str, opponent: str, games: int) -> float:
    game = REG.make_game(C4)
    me, other = REG.make_policy(policy_spec), REG.make_policy(opponent)
    total = 0.0
    for i in range(games):
        seats = [me, other] if i % 2 == 0 else [other, me]
        result = play_game(game, seats, seed=100 + i)
        assert not result.forfeits, result.forfeits
        total += result.score(i % 2)
    return total / games


# -- search ---------------------------------------------------------------------------------------------------------
NETWORKS = pytest.mark.parametrize("net", ["uniform", "random_net"])


@NETWORKS
def test_takes_an_immediate_win_with_an_untrained_network(net, request):
    # x holds the bottom row's columns 0-2, o the row above; x to move wins at 3 (and nowhere else)
    moves = [0, 0, 1, 1, 2, 2]
    game, state, _ = position(moves)
    winning = [a for a in state.legal_actions() if state.child(a).is_terminal() and state.child(a).returns()[0] > 0]
    policy = PUCTPolicy(snapshot=str(request.getfixturevalue(net)), simulations=50)
    assert [move(policy, moves, seed) for seed in range(3)] == [winning[0]] * 3


@NETWORKS
def test_blocks_an_immediate_loss_with_an_untrained_network(net, request):
    # x threatens the bottom row at column 3; o to move, with no win of its own
    moves = [0, 6, 1, 6, 2]
    _, state, _ = position(moves)
    elsewhere = state.child(5)
    assert any(elsewhere.child(a).is_terminal() for a in elsewhere.legal_actions()), "no threat to block"
    policy = PUCTPolicy(snapshot=str(request.getfixturevalue(net)), simulations=300)
    for seed in range(3):
        answer = move(policy, moves, seed)
        after = state.child(answer)
        assert not any(after.child(a).is_terminal() for a in after.legal_actions()), f"{answer} leaves x a win"


def test_the_value_head_overrules_the_prior_given_simulations(tmp_path):
    """The policy head prefers column 6; the value head says that x's stone in the bottom-left cell wins for x (and
    loses for o), so the search finds that column 0 wins. One simulation follows the prior; more find the value."""
    (corner,) = np.flatnonzero((_features([], 0) == 0) & (_features([0], 0) == 1) & (_features([0], 1) == 1))
    (seat0,) = np.flatnonzero((_features([], 0) == 1) & (_features([], 1) == 0))
    (seat1,) = np.flatnonzero((_features([], 1) == 1) & (_features([], 0) == 0))

    def edit(policy_net, value_net):
        policy_net[-1].bias[6] = 3.0
        first, last = value_net[0], value_net[-1]  # relu(corner + seat0 - 1) - relu(corner + seat1 - 1)
        first.weight[0, corner] = first.weight[1, corner] = 1.0
        first.weight[0, seat0] = first.weight[1, seat1] = 1.0
        first.bias[:] = -1.0
        last.weight[0, 0], last.weight[0, 1] = 1.0, -1.0

    snap = make_snapshot(tmp_path / "corner", edit=edit, value_hidden=(2,))
    assert move(PUCTPolicy(snapshot=str(snap), simulations=1), []) == 6
    assert move(PUCTPolicy(snapshot=str(snap), simulations=50), []) == 0
    # o, to move after x's 6, sees two plies ahead that any other move lets x take the corner: it takes it first
    assert move(PUCTPolicy(snapshot=str(snap), simulations=1), [6]) == 6
    assert move(PUCTPolicy(snapshot=str(snap), simulations=200), [6]) == 0


def _features(moves: list[int], seat: int) -> np.ndarray:
    game, _, history = position(moves)
    return snapshot.features(game.info, game.observation(seat), history, seat)


def test_more_simulations_do_not_play_worse_than_one_against_random(random_net):
    one = score(f"puct:snapshot={random_net},simulations=1", "random", games=6)
    many = score(f"puct:snapshot={random_net},simulations=100", "random", games=6)
    assert many >= one and many > 0.5, (one, many)


def test_boards_searched_together_get_the_moves_each_gets_alone(random_net):
    spec = f"puct:snapshot={random_net},simulations=30"
    seeds = [3, 4, 5, 6]
    alone = [play_game(REG.make_game(C4), [REG.make_policy(spec), REG.make_policy("random")], s, record_moves=True)
             for s in seeds]
    shared = REG.make_policy(spec)  # one instance: its act_batch searches all four games' boards at once
    tables = [(REG.make_game(C4), [shared, REG.make_policy("random")], s) for s in seeds]
    together = dict(play_lockstep(tables, record_moves=True))
    assert [together[i].moves for i in range(len(seeds))] == [r.moves for r in alone]


def test_same_seed_same_move_and_root_noise_varies_it(random_net):
    plain = PUCTPolicy(snapshot=str(random_net), simulations=20)
    assert len({move(plain, [3, 3], seed) for seed in range(6)}) == 1
    noisy = PUCTPolicy(snapshot=str(random_net), simulations=1, noise=1.0, alpha=0.3)
    assert move(noisy, [3, 3], 7) == move(noisy, [3, 3], 7)
    assert len({move(noisy, [3, 3], seed) for seed in range(12)}) > 1


def test_a_forced_move_is_played_without_search(tmp_path):
    policy = PUCTPolicy(snapshot=str(make_snapshot(tmp_path / "ttt", env="openspiel/tic_tac_toe")), simulations=1)
    game = REG.make_game("openspiel/tic_tac_toe")
    game.reset(0)
    for ply, cell in enumerate([0, 1, 2, 4, 3, 5, 7, 6]):  # no line anywhere, cell 8 left
        game.step({ply % 2: cell})
    state = game.native_state()
    assert state.legal_actions() == [8] and not state.is_terminal()
    policy.search = None  # a search would fail now
    assert policy.act(state=state, seat=0, rng=np.random.default_rng(0), game=game.info, history=[]) == 8


# -- errors ---------------------------------------------------------------------------------------------------------
def test_bad_parameters_are_one_line_errors(uniform):
    for spec, words in [("puct", "snapshot=NAME"), (f"puct:snapshot={uniform},simulations=0", "at least 1"),
                        (f"puct:snapshot={uniform},batch=0", "at least 1"),
                        (f"puct:snapshot={uniform},c_puct=-1", "non-negative"),
                        (f"puct:snapshot={uniform},noise=2", "within [0, 1]"),
                        (f"puct:snapshot={uniform},simulations=many", "must be int")]:
        with pytest.raises(ParameterError) as e:
            REG.make_policy(spec)
        assert words in str(e.value) and "\n" not in str(e.value), spec


def test_a_snapshot_without_value_head_is_refused_in_one_line(tmp_path):
    snap = make_snapshot(tmp_path / "novalue", value=False)
    with pytest.raises(snapshot.SnapshotError) as e:
        REG.make_policy(f"puct:snapshot={snap}")
    assert "no value head" in str(e.value) and "\n" not in str(e.value)


def test_a_snapshot_of_another_game_or_other_sizes_is_declined(tmp_path, monkeypatch):
    ttt = make_snapshot(tmp_path / "ttt", env="openspiel/tic_tac_toe")
    policy = REG.make_policy(f"puct:snapshot={ttt}")
    with pytest.raises(IncompatiblePolicyError, match="trained on openspiel/tic_tac_toe") as e:
        policy.check(REG.make_game(C4).info)
    assert "\n" not in str(e.value)
    policy.check(REG.make_game("openspiel/tic_tac_toe").info)  # its own game is fine

    wrong = make_snapshot(tmp_path / "wrong", env="openspiel/tic_tac_toe")
    meta = json.loads((wrong / "meta.json").read_text())
    (wrong / "meta.json").write_text(json.dumps({**meta, "env": "openspiel/connect_four-v0"}))
    with pytest.raises(IncompatiblePolicyError, match="sizes do not match"):
        REG.make_policy(f"puct:snapshot={wrong}").check(REG.make_game(C4).info)

    broken = make_snapshot(tmp_path / "broken")
    meta = json.loads((broken / "meta.json").read_text())
    (broken / "meta.json").write_text(json.dumps({**meta, "value": {**meta["value"], "hidden": [5]}}))
    with pytest.raises(snapshot.SnapshotError, match="value head cannot be loaded") as e:
        REG.make_policy(f"puct:snapshot={broken}")
    assert "\n" not in str(e.value)

    monkeypatch.setenv(SNAPSHOTS_ENV_VAR, str(tmp_path))
    with pytest.raises(ArenaError, match="Unknown snapshot 'nope'"):
        REG.make_policy("puct:snapshot=nope")
    REG.make_policy("puct:snapshot=snapshot/ttt").check(REG.make_game("openspiel/tic_tac_toe").info)  # by name


def test_games_it_cannot_search_are_declined(uniform):
    policy = REG.make_policy(f"puct:snapshot={uniform}")
    with pytest.raises(IncompatiblePolicyError) as e:
        policy.check(REG.make_game("pettingzoo/connect_four_v3").info)
    assert "\n" not in str(e.value)


# -- the command line -----------------------------------------------------------------------------------------------
CLI = """
import atexit, sys
import arena.plugin_manager as pm
if "arena.plugins.puct" not in pm.DEFAULT_PLUGINS:
    pm.DEFAULT_PLUGINS += ("arena.plugins.puct",)
atexit.register(lambda: print("ray imported" if "ray" in sys.modules else "no ray", file=sys.stderr))
from arena.cli import main
main(sys.argv[1:])
"""


def arena(*args: str, snapshots: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, SNAPSHOTS_ENV_VAR: str(snapshots)}
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=120, env=env)


def test_arena_match_plays_puct_against_the_heuristic_without_ray(random_net):
    out = arena("match", C4, f"puct:snapshot={random_net.name},simulations=50", "connect_four_heuristic",
                "--games", "2", "--seed", "1", "--json", snapshots=random_net.parent)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["games_played"] == 2 and not doc["forfeits"] and not doc["errors"]
    assert all(g["length"] >= 7 for g in doc["results"])  # whole games: nobody wins Connect Four in fewer plies
    assert sum(s["games"] for s in doc["standings"]) == 4
    assert out.stderr.strip().endswith("no ray")


def test_arena_match_refuses_a_snapshot_without_value_head_in_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from arena.cli import build_cli

    make_snapshot(tmp_path / "novalue", value=False)
    monkeypatch.setenv(SNAPSHOTS_ENV_VAR, str(tmp_path))
    result = CliRunner().invoke(build_cli(REG), ["match", C4, "puct:snapshot=novalue", "random", "-n", "1"], obj=REG)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:") and "value head" in lines[0]
