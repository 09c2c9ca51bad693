"""Openings and game pairs: generated and file openings, the skip rule, pairing with seats swapped, match ids, SPRT
pairs, workers, tournaments and the one-line errors."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from arena.errors import UsageError
from arena.match import play_game
from arena.openings import Book, OpeningError, decided, parse_spec, tokens
from arena.registry import Registry
from arena.services.headtohead import HeadToHead, head_to_head
from arena.services.recording import open_store
from arena.services.tournament import TournamentRequest, report, run_tournament, stored_report
from arena.sprt import SprtSpec
from arena.store import game_id, match_id
from arena.store import tournaments as stored_tournaments

ARENA = str(Path(sys.executable).with_name("arena"))
C4 = "openspiel/connect_four"


@pytest.fixture(scope="module")
def reg() -> Registry:
    return Registry()


def legal_from_start(reg: Registry, env: str, opening: tuple[int, ...]) -> bool:
    game = reg.make_game(env)
    game.reset(0)
    for action in opening:
        movers = game.to_move()
        if len(movers) != 1 or action not in game.legal_actions(movers[0]):
            return False
        game.step({movers[0]: action})
    return bool(game.to_move())


@pytest.mark.parametrize("env", [C4, "openspiel/tic_tac_toe", "pettingzoo/connect_four_v3"])
def test_generated_openings_are_legal_reproducible_and_mostly_distinct(reg, env):
    book = Book(reg.make_game(env), "random:plies=3")
    openings = book.openings(7, 30)
    assert all(len(o) == 3 and legal_from_start(reg, env, o) for o in openings)
    assert Book(reg.make_game(env), "random:plies=3").openings(7, 30) == openings  # same seed, same openings
    assert book.openings(8, 30) != openings
    assert len(set(openings)) == 30  # a match does not repeat an opening while new ones exist


def test_a_small_book_cycles_instead_of_failing(reg):
    openings = Book(reg.make_game("openspiel/tic_tac_toe"), "random:plies=1").openings(0, 20)
    assert len(set(openings[:9])) == 9 and set(openings) == {(a,) for a in range(9)}


def test_generated_openings_skip_decided_positions(reg):
    # x has three in column 0 and o has stones elsewhere: x wins at once, which a depth-4 search proves
    game = reg.make_game(C4)
    state = game.info.native_game.new_initial_state()
    for a in (0, 1, 0, 1, 0, 2):
        state.apply_action(a)
    assert decided(state)
    assert not decided(game.info.native_game.new_initial_state())
    book = Book(game, "random:plies=8")
    for opening in book.openings(3, 40):
        game.reset(0)
        for a in opening:
            game.step({game.to_move()[0]: a})
        assert not decided(game.native_state().clone())


def test_games_of_a_pair_share_their_opening_with_seats_swapped(reg):
    doc = head_to_head(reg, HeadToHead(C4, ("random", "connect_four_heuristic"), games=8, seed=4,
                                       openings="random:plies=2", record_moves=True))
    results = doc["results"]
    used = [tuple(o["actions"]) for o in doc["openings"]["used"]]
    assert len(used) == 4 and len(set(used)) == 4
    for k in range(4):
        a, b = results[2 * k], results[2 * k + 1]
        assert tuple(a["opening"]) == tuple(b["opening"]) == used[k]
        assert list(a["players"]) == list(reversed(b["players"]))
        assert [m[1] for m in a["moves"][:2]] == list(used[k])  # the opening is part of the moves
        assert a["length"] == len(a["moves"])


def test_match_ids_change_with_an_opening_and_stay_without(reg):
    policies = [reg.make_policy("random"), reg.make_policy("random")]
    game = reg.make_game(C4)
    plain = play_game(game, policies, seed=5)
    opened = play_game(game, policies, seed=5, opening=(3, 3))
    assert plain.opening == () and opened.opening == (3, 3)
    assert match_id(plain) == game_id(plain.env_id, plain.players, 5)  # the id every existing store has
    assert match_id(opened) != match_id(plain)
    assert match_id(opened) == game_id(opened.env_id, opened.players, 5, None, (3, 3))


def test_sprt_pairs_are_the_two_games_of_one_opening(reg):
    doc = head_to_head(reg, HeadToHead(C4, ("connect_four_heuristic", "random"), games=10, seed=1,
                                       openings="random:plies=2", sprt=SprtSpec.parse("elo0=0,elo1=400")))
    pairs = doc["sprt"]["pairs"]
    assert pairs >= 1 and doc["games_played"] == 2 * pairs  # every game counted in a pair, none alone
    results = doc["results"]
    assert all(results[2 * k]["opening"] == results[2 * k + 1]["opening"] for k in range(pairs))


def test_one_and_two_workers_play_the_same_games_with_openings(reg):
    docs = [head_to_head(reg, HeadToHead(C4, ("random", "connect_four_heuristic"), games=12, seed=9, workers=w,
                                         openings="random:plies=4", record_moves=True)) for w in (1, 2)]
    strip = [[{k: v for k, v in r.items() if k != "duration_s"} for r in d["results"]] for d in docs]
    assert strip[0] == strip[1] and docs[0]["openings"] == docs[1]["openings"]
    assert all(r["opening"] for r in strip[0]) and not any(r["error"] for r in strip[0])


def test_an_openings_file_in_action_strings_and_numbers(reg, tmp_path):
    book_file = tmp_path / "c4.txt"
    book_file.write_text("# connect four openings\nx3 o3\n\n2, 4  # numbers work too\nx0,o6,x0\n")
    book = Book(reg.make_game(C4), str(book_file))
    assert book.openings(0, 4) == [(3, 3), (2, 4), (0, 6, 0), (3, 3)]
    ttt = tmp_path / "ttt.txt"
    ttt.write_text("x(1,1) o(0,0)\n")
    assert Book(reg.make_game("openspiel/tic_tac_toe"), str(ttt)).openings(0, 1) == [(4, 0)]
    assert tokens("x(1,1), o(0,0) x(2,2)") == ["x(1,1)", "o(0,0)", "x(2,2)"]


def one_line_error(reg, env: str, spec: str) -> str:
    with pytest.raises(OpeningError) as e:
        Book(reg.make_game(env), spec)
    assert isinstance(e.value, UsageError) and "\n" not in str(e.value)
    return str(e.value)


def test_bad_openings_files_name_the_line_and_the_move(reg, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("x3 o3\n# fine so far\nx3 o9\n")
    message = one_line_error(reg, C4, str(bad))
    assert f"{bad}:3" in message and "'o9'" in message and "illegal move" in message
    full = tmp_path / "full.txt"
    full.write_text(" ".join(["x0 o1 x0 o1 x0 o1 x0 o1"]) + "\n")  # x wins on its fourth move, then o1 is extra
    message = one_line_error(reg, C4, str(full))
    assert f"{full}:1" in message and "longer than" in message
    ended = tmp_path / "ended.txt"
    ended.write_text("x0 o1 x0 o1 x0 o1 x0\n")
    assert "already ended the game" in one_line_error(reg, C4, str(ended))
    assert "not found" in one_line_error(reg, C4, str(tmp_path / "nope.txt"))
    assert "longer than" in one_line_error(reg, "openspiel/tic_tac_toe", "random:plies=9")
    with pytest.raises(OpeningError):
        parse_spec("random:plies=0")


def test_games_with_chance_hidden_information_or_simultaneous_moves_refuse_openings(reg):
    assert "chance" in one_line_error(reg, "openspiel/kuhn_poker", "random:plies=1")
    assert "simultaneous" in one_line_error(reg, "pettingzoo/rps_v2", "random:plies=1")
    assert "hidden information" in one_line_error(reg, "pettingzoo/leduc_holdem_v4", "random:plies=1")


def test_the_cli_says_why_in_one_error_line_and_reports_openings_in_json():
    out = subprocess.run([ARENA, "match", "openspiel/kuhn_poker", "random", "random", "--openings",
                          "random:plies=2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and "chance events" in lines[0]
    out = subprocess.run([ARENA, "match", C4, "random", "random", "-n", "4", "--seed", "2", "--openings",
                          "random:plies=2", "--json"], capture_output=True, text=True, timeout=300)
    doc = json.loads(out.stdout)
    assert doc["openings"]["spec"] == "random:plies=2" and len(doc["openings"]["used"]) == 2
    assert doc["openings"]["used"][0]["moves"].startswith("x")


def test_a_tournament_with_openings_stores_them_and_resumes_only_with_them(reg, tmp_path):
    db = tmp_path / "t.db"
    request = TournamentRequest(C4, ("random", "connect_four_heuristic", "alphabeta:depth=2"), games_per_pair=4,
                                seed=3, openings="random:plies=2")
    with open_store(db) as store:
        doc = run_tournament(reg, store, request)
    assert doc["games"] == 12 and doc["openings"]["spec"] == "random:plies=2"
    round_openings = [tuple(o["actions"]) for o in doc["openings"]["rounds"][1]]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT opening FROM matches ORDER BY seq").fetchall()
    stored = [tuple(json.loads(r[0])) for r in rows]
    assert len(stored) == 12 and set(stored) == set(round_openings)  # every pairing plays the round's openings
    assert all(stored[i] == stored[i + 1] for i in range(0, 12, 2))  # pairwise, seats swapped
    with open_store(db) as store:  # resumed with its openings: nothing to play, same standings
        again = run_tournament(reg, store, TournamentRequest(**{**request.__dict__, "resume": True,
                                                                "name": doc["name"]}))
        assert again["standings"] == doc["standings"]
        # without --openings, a resume plays the stored ones, and a page's report (stored_report) uses them too
        bare = run_tournament(reg, store, TournamentRequest(**{**request.__dict__, "resume": True, "name": doc["name"],
                                                               "openings": None}))
        assert bare["standings"] == doc["standings"] and bare["openings"]["spec"] == "random:plies=2"
        spec = stored_tournaments.load(store, doc["name"])
        assert spec.openings == "random:plies=2"
        assert stored_report(reg, store, spec)["standings"] == doc["standings"]
        assert all(s["games"] == 0 for s in report(store, spec)["standings"])  # without them no game matches
        with pytest.raises(UsageError, match="other openings"):
            run_tournament(reg, store, TournamentRequest(**{**request.__dict__, "resume": True, "name": doc["name"],
                                                            "openings": "random:plies=4"}))


def test_a_tournament_with_openings_ranks_players_of_known_strength_in_order(reg, tmp_path):
    # Measured order: connect_four_heuristic beats mcts:simulations=25 head to head (0.68 over 60 games with these
    # openings, 95% interval [0.56, 0.79]; 0.82 without), so it ranks above it, and below MCTS with 100 simulations.
    players = ("random", "mcts:simulations=25", "connect_four_heuristic", "mcts:simulations=100",
               "mcts:simulations=400")
    with open_store(tmp_path / "rank.db") as store:
        doc = run_tournament(reg, store, TournamentRequest(C4, players, games_per_pair=8, seed=11, workers=2,
                                                           openings="random:plies=2"))
    assert doc["errors"] == 0
    order = [(s["player"], s["points"]) for s in doc["standings"]]
    expected = [reg.player_id(p) for p in reversed(players)]
    assert [p for p, _ in order] == expected, order
    from arena.store import rankings

    with open_store(tmp_path / "rank.db", readonly=True) as store:
        boards = {m: rankings.leaderboard(store, tournament=doc["name"], method=m) for m in ("trueskill", "bt", "nash")}
    assert [e["player"] for e in boards["trueskill"]] == expected
    assert [e["player"] for e in boards["bt"]] == expected
    # Nash averaging puts the mass on the best player; the others are rated by their payoff against it alone, so
    # players who lost every game to it may tie, but none ranks above a stronger one
    nash = {e["player"]: e["nash"] for e in boards["nash"]}
    assert boards["nash"][0]["player"] == expected[0] and boards["nash"][0]["nash_mass"] > 0.99
    assert all(nash[a] >= nash[b] for a, b in zip(expected, expected[1:])), nash
