"""Match play on many workers: same games whatever the worker count, batched snapshots, crashed workers, Ray."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from arena.match import game_seed, play_game, play_lockstep, seat_order
from arena.parallel import CHUNK, GameJob, PlayOptions, run_games
from arena.registry import Registry

ARENA = str(Path(sys.executable).with_name("arena"))
C4 = "openspiel/connect_four"


def jobs(players: list[str], games: int, seed: int = 11, env: str = C4) -> list[GameJob]:
    return [GameJob(i, env, tuple(players[j] for j in seat_order(len(players), i)), game_seed(seed, i))
            for i in range(games)]


def played(results) -> list[tuple]:
    """The games as played; two runs that failed the same way would compare equal, so every game must have played."""
    rows = [(j.index, r.players, r.moves, r.ranks, r.error) for j, r in results]
    assert rows and all(row[4] is None and row[2] for row in rows), [row[4] for row in rows if row[4]][:3]
    return rows


MOVES = PlayOptions(record_moves=True)


def test_two_workers_play_exactly_the_games_of_one_in_job_order():
    todo = jobs(["mcts:simulations=8", "connect_four_heuristic"], 2 * CHUNK + 5)
    one = played(run_games(todo, workers=1, options=MOVES))
    two = played(run_games(todo, workers=2, options=MOVES))
    assert [row[0] for row in two] == list(range(len(todo)))  # streamed back in order
    assert one == two
    assert all(row[4] is None for row in one) and len({row[2] for row in one}) > 1  # real, different games
    # and the same as the plain sequential runner with those seeds
    reg = Registry()
    game = reg.make_game(C4)
    seq = [play_game(game, [reg.make_policy(p) for p in j.players], j.seed, record_moves=True) for j in todo[:6]]
    assert [r.moves for r in seq] == [row[2] for row in one[:6]]


@pytest.fixture()
def snapshot_dir(tmp_path, monkeypatch):
    """A real (untrained) snapshot on disk: weights and metadata, loaded back with weights_only=True."""
    import torch

    from arena.plugins import snapshot

    reg = Registry()
    info = reg.make_game(C4).info
    meta = {"env": info.env_id, "obs_dim": snapshot.feature_dim(info), "num_actions": info.num_actions,
            "features": snapshot.FEATURES,
            "hidden": [16], "activation": "tanh"}
    torch.manual_seed(0)
    snapshot.save(tmp_path / "snaps" / "net", snapshot.build_net(meta).state_dict(), meta)
    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path / "snaps"))
    return tmp_path / "snaps"


@pytest.mark.parametrize("spec", ["snapshot/net", "snapshot/net:greedy=false"])
def test_snapshots_in_lockstep_batch_their_moves_and_play_the_same_games(snapshot_dir, spec):
    reg = Registry()
    policy = reg.make_policy(spec)
    calls = []
    batch = policy.obj.act_batch
    policy.obj.act_batch = lambda moves: calls.append(len(moves)) or batch(moves)
    todo = jobs([spec, "random"], 12)
    tables = [(reg.make_game(C4), [policy if p == spec else reg.make_policy(p) for p in j.players], j.seed)
              for j in todo]
    batched = dict(play_lockstep(tables, record_moves=True))
    assert max(calls) == 12 and len(calls) < sum(calls) / 4  # one forward pass served many boards
    game = reg.make_game(C4)
    for i, j in enumerate(todo):
        alone = play_game(game, [reg.make_policy(p) for p in j.players], j.seed, record_moves=True)
        assert alone.moves == batched[i].moves and alone.ranks == batched[i].ranks


def test_a_failing_batch_forfeits_the_seats_it_was_asked_for(snapshot_dir):
    reg = Registry()
    policy = reg.make_policy("snapshot/net")
    policy.obj.act_batch = lambda moves: [0] * (len(moves) - 1)  # one action short
    tables = [(reg.make_game(C4), [policy, reg.make_policy("random")], s) for s in range(3)]
    results = [r for _, r in play_lockstep(tables)]
    assert all(r.forfeits == {0: "raised ValueError: act_batch returned 2 actions for 3 moves"} for r in results)


def test_search_policies_get_their_own_instance_per_game_beside_a_batched_snapshot(snapshot_dir):
    # MCTS keeps its search tree per game (reset); in lockstep beside a snapshot, games must not share it
    todo = jobs(["snapshot/net:greedy=false", "mcts:simulations=6"], CHUNK)
    reg = Registry()
    game = reg.make_game(C4)
    alone = [play_game(game, [reg.make_policy(p) for p in j.players], j.seed, record_moves=True) for j in todo]
    together = [r for _, r in run_games(todo, workers=1, options=MOVES)]
    assert [r.moves for r in together] == [r.moves for r in alone]


def test_a_policy_that_fails_inside_a_worker_stops_the_run_with_its_own_error():
    from arena.parallel import WorkerError

    with pytest.raises(WorkerError, match="Unknown policy 'nope'") as failed:
        list(run_games(jobs(["nope", "random"], 4), workers=2))
    assert failed.value.exit_code == 2


def test_sprt_feed_pairs_seat_swapped_games_and_counts_a_lone_game_alone():
    from types import SimpleNamespace

    from arena.services.headtohead import SprtFeed
    from arena.sprt import SprtSpec

    def game(score, error=None):  # participant 0 sits in seat 0 (order (0, 1))
        return SimpleNamespace(error=error, score=lambda seat: score if seat == 0 else 1 - score)

    feed = SprtFeed(SprtSpec(0, 20))
    feed.add(0, (0, 1), game(1.0))
    feed.add(1, (0, 1), game(0.5))  # pair (1, 0.5): pentanomial cell 3/4
    feed.add(2, (0, 1), game(0.0))
    feed.add(3, (0, 1), game(0.0, error="crashed"))  # its partner failed: game 2 will count alone
    feed.add(4, (0, 1), game(1.0))
    feed.flush()  # the match ended with game 4 unpaired
    assert feed.sprt.pentanomial == [0, 0, 0, 1, 0] and feed.sprt.trinomial == [1, 0, 1]
    assert feed.sprt.games == 4


def test_snapshot_games_are_the_same_on_one_or_two_workers(snapshot_dir):
    todo = jobs(["snapshot/net:greedy=false", "mcts:simulations=4"], CHUNK + 3)
    assert played(run_games(todo, workers=1, options=MOVES)) == played(run_games(todo, workers=2, options=MOVES))


def _kill_a_worker_after_first_result(todo, retries):
    results = []
    stream = run_games(todo, workers=2, options=MOVES, retries=retries)
    for item in stream:
        if not results:
            victims = [p for p in multiprocessing.active_children() if p.name == "arena-match-worker"]
            assert len(victims) == 2
            os.kill(victims[0].pid, signal.SIGKILL)
        results.append(item)
    return results


def test_a_killed_worker_loses_nothing_its_games_are_played_again():
    todo = jobs(["mcts:simulations=30", "mcts:simulations=20"], 3 * CHUNK)
    results = _kill_a_worker_after_first_result(todo, retries=1)
    assert played(results) == played(run_games(todo, workers=1, options=MOVES))


def test_without_retries_only_the_killed_workers_games_become_errors():
    todo = jobs(["mcts:simulations=30", "mcts:simulations=20"], 3 * CHUNK)
    results = _kill_a_worker_after_first_result(todo, retries=0)
    errors = [r for _, r in results if r.error]
    assert len(results) == len(todo)
    assert 0 < len(errors) <= CHUNK
    assert all("a match worker died (exit code -9)" in r.error for r in errors)


def test_ray_actors_play_the_same_games_as_local_processes():
    ray = pytest.importorskip("ray")
    todo = jobs(["mcts:simulations=5", "random"], CHUNK + 4)
    try:
        # 4 workers on a 2-CPU Ray: capped at 2 actors (an actor holds its CPU; more would never start)
        on_ray = played(run_games(todo, workers=4, ray_address="local", options=MOVES))
    finally:
        ray.shutdown()
    assert on_ray == played(run_games(todo, workers=1, options=MOVES))


def run(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARENA, *args], capture_output=True, text=True, timeout=300, **kw)


def test_match_cli_gives_the_same_json_and_store_on_one_and_two_workers(tmp_path):
    docs = []
    for workers in ("1", "2"):
        db = tmp_path / f"w{workers}.db"
        out = run("match", C4, "mcts:simulations=10", "connect_four_heuristic", "-n", "20", "--seed", "5",
                  "--workers", workers, "--json", "--db", str(db))
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        board = json.loads(run("leaderboard", "--db", str(db), "--json").stdout)
        docs.append(([(r["players"], r["ranks"], r["length"]) for r in doc["results"]], doc["standings"],
                     [(p["player"], p["mu"], p["sigma"]) for p in board]))
        assert doc["stored"]["new"] == 20
    assert docs[0] == docs[1]  # same games, stored in the same order: the same ratings to the last digit


def test_sprt_stops_a_match_as_soon_as_it_decides():
    out = run("match", C4, "mcts:simulations=25", "random", "--sprt", "elo0=0,elo1=100,alpha=0.05,beta=0.05",
              "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    sprt = doc["sprt"]
    assert sprt["decision"] == "H1" and sprt["llr"] >= sprt["upper"]
    assert doc["games_played"] == sprt["games"] < doc["games_requested"]
    assert sum(sprt["pentanomial"]) == sprt["pairs"] == doc["games_played"] // 2
    text = run("match", C4, "mcts:simulations=25", "random", "--sprt", "elo0=0,elo1=100", "--seed", "3")
    assert "H1 accepted: mcts:simulations=25 is at least +100 Elo against random" in text.stdout


@pytest.mark.parametrize("args, fragment", [
    (["--sprt", "elo0=0"], "missing elo1"),
    (["--sprt", "elo0=0,elo1=20", "--workers", "0"], "--workers"),
])
def test_bad_sprt_or_worker_options_give_one_line(args, fragment):
    out = run("match", C4, "random", "random", *args)
    assert out.returncode == 2 and fragment in out.stderr and "Traceback" not in out.stderr


def test_snapshots_saved_before_the_seat_feature_still_play(tmp_path, monkeypatch):
    """Version-1 snapshots (no seat one-hot in their input) load and play; the seat makes version 2 inputs longer."""
    import torch

    from arena.plugins import snapshot

    reg = Registry()
    info = reg.make_game(C4).info
    assert snapshot.feature_dim(info) == snapshot.feature_dim(info, version=1) + 2
    meta = {"env": info.env_id, "obs_dim": snapshot.feature_dim(info, version=1), "num_actions": info.num_actions,
            "hidden": [8], "activation": "tanh"}  # no "features" key: written before it existed
    torch.manual_seed(1)
    snapshot.save(tmp_path / "old", snapshot.build_net(meta).state_dict(), meta)
    monkeypatch.setenv("ARENA_SNAPSHOTS", str(tmp_path))
    results = [r for _, r in run_games(jobs(["snapshot/old", "random"], 4), workers=1)]
    assert all(r.error is None and not r.forfeits and r.length > 0 for r in results)
