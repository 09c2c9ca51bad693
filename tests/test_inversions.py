"""A leaderboard that flags its contradictions: rank inversions under every method, Nash averaging from the store,
the JSON shape and the table, on stores built in-process."""
from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner

from arena.cli.store import leaderboard_cmd
from arena.services.recording import open_store
from arena.store import rankings
from arena.types import MatchResult, ranks_from_returns

ENV = "test/game-v0"
SEEDS = itertools.count(1)


def record(store, a, b, a_wins, b_wins, draws=0, event=None):
    """Store a's games against b: a_wins, then b_wins, then draws, each a new seed."""
    for returns, n in (((1, -1), a_wins), ((-1, 1), b_wins), ((0, 0), draws)):
        for _ in range(n):
            r = tuple(float(x) for x in returns)
            store.record(MatchResult(ENV, next(SEEDS), (a, b), r, ranks_from_returns(r), 2), event=event)


@pytest.fixture(scope="module")
def spoiled(tmp_path_factory) -> str:
    """`strong` crushes w1 and w2, who both beat `spoiler`, but `spoiler` beats `strong` 30-10 head to head."""
    path = str(tmp_path_factory.mktemp("inv") / "spoiled.db")
    with open_store(path) as store:
        record(store, "strong", "w1", 40, 0)
        record(store, "strong", "w2", 40, 0)
        record(store, "spoiler", "w1", 5, 15)
        record(store, "spoiler", "w2", 5, 15)
        record(store, "spoiler", "strong", 30, 10)
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> str:
    """a > b > c > d, every pair in order (played in a mixed order, so TrueSkill agrees)."""
    path = str(tmp_path_factory.mktemp("inv") / "clean.db")
    with open_store(path) as store:
        for _ in range(5):
            for x, y, wx, wy in (("a", "b", 6, 2), ("b", "c", 6, 2), ("c", "d", 6, 2), ("a", "c", 7, 1),
                                 ("b", "d", 7, 1), ("a", "d", 8, 0)):
                record(store, x, y, wx, wy, event="alpha" if "d" not in (x, y) else None)
    return path


def board(path, **kw):
    with open_store(path, readonly=True) as store:
        return rankings.leaderboard(store, **kw)


def test_a_lower_ranked_player_that_significantly_beat_a_higher_one_is_flagged(spoiled):
    rows = board(spoiled, method="bt")
    assert [r["player"] for r in rows[:2]] == ["strong", "spoiler"]
    spoiler = rows[1]
    assert [b["player"] for b in spoiler["beats_higher"]] == ["strong"]
    beat = spoiler["beats_higher"][0]
    assert (beat["rank"], beat["games"], beat["wins"], beat["losses"]) == (1, 40, 30, 10)
    assert beat["score"] == 0.75 and 0.5 < beat["lo"] < 0.75 < beat["hi"]
    inv = rankings.inversions(rows)
    assert inv[0] == {"env": ENV, "player": "spoiler", "rank": 2, "opponent": "strong", "opponent_rank": 1,
                      "score": 0.75, "lo": beat["lo"], "hi": beat["hi"], "games": 40, "wins": 30, "draws": 0,
                      "losses": 10}
    # w1 and w2 beat spoiler 15-5: also significant, and also ranked below it
    assert {(r["player"], r["opponent"]) for r in inv} == {("spoiler", "strong"), ("w1", "spoiler"),
                                                           ("w2", "spoiler")}
    assert all(r["beats_higher"] == [] for r in rows if r["player"] == "strong")


def test_every_method_flags_inversions_against_its_own_order(spoiled):
    for method in ("trueskill", "bt", "nash"):
        rows = board(spoiled, method=method)
        rank = {r["player"]: r["rank"] for r in rows}
        for r in rankings.inversions(rows):
            assert rank[r["player"]] > rank[r["opponent"]] and r["lo"] > 0.5
    # Nash averaging sees the cycle (strong > w > spoiler > strong): all four in the support, tied at 0, and tied
    # players are not ranked against each other, so nothing is flagged
    nash = board(spoiled, method="nash")
    assert all(r["nash"] == 0 and r["nash_mass"] > 0 for r in nash) and rankings.inversions(nash) == []


def test_a_clean_transitive_set_flags_nothing(clean):
    for method in ("trueskill", "bt", "nash"):
        rows = board(clean, method=method)
        assert rankings.inversions(rows) == [] and all(r["beats_higher"] == [] for r in rows)
    assert [r["player"] for r in board(clean, method="bt")] == ["a", "b", "c", "d"]
    nash = board(clean, method="nash")
    assert nash[0]["player"] == "a" and nash[0]["nash_mass"] == pytest.approx(1)
    assert [r["player"] for r in nash] == ["a", "b", "c", "d"]
    assert nash[0]["nash"] == 0 and all(r["nash"] < 0 and r["nash_mass"] == 0 for r in nash[1:])


def test_inversions_are_among_the_listed_players_only(spoiled, clean):
    assert rankings.inversions(board(spoiled, method="bt", top=1)) == []
    assert {(r["player"], r["opponent"]) for r in rankings.inversions(board(spoiled, method="bt", top=2))} == \
        {("spoiler", "strong")}
    alpha = board(clean, league="alpha", method="nash")  # d played outside the league: left out, and its games
    assert [r["player"] for r in alpha] == ["a", "b", "c"]
    with open_store(clean, readonly=True) as store:
        assert rankings.leaderboard(store, env=ENV, method="nash") == board(clean, method="nash")
        with pytest.raises(ValueError):
            rankings.leaderboard(store, method="elo")


def test_nash_from_the_store_ignores_a_redundant_copy(tmp_path):
    """Rock-paper-scissors and a player all three beat; then a copy of rock (same results against everyone)."""
    def build(path, copy):
        with open_store(path) as store:
            for r in ("rock",) + (("rock2",) if copy else ()):
                record(store, r, "scissors", 30, 10)
                record(store, "paper", r, 30, 10)
                record(store, r, "weak", 35, 5)
            if copy:
                record(store, "rock", "rock2", 10, 10)
            record(store, "scissors", "paper", 30, 10)
            record(store, "paper", "weak", 35, 5)
            record(store, "scissors", "weak", 35, 5)
        return {r["player"]: r for r in board(path, method="nash")}

    before, after = build(tmp_path / "a.db", False), build(tmp_path / "b.db", True)
    assert [before[p]["nash_mass"] for p in ("rock", "paper", "scissors")] == pytest.approx([1 / 3] * 3, abs=1e-6)
    assert before["weak"]["nash_mass"] == 0 and before["weak"]["rank"] == 4
    for p in before:
        assert after[p]["nash"] == pytest.approx(before[p]["nash"], abs=1e-6)
    assert after["rock"]["nash_mass"] + after["rock2"]["nash_mass"] == pytest.approx(1 / 3, abs=1e-6)


def cli(*args):
    out = CliRunner().invoke(leaderboard_cmd, [*args])
    assert out.exit_code == 0, out.output
    return out.output


def test_json_keeps_its_shape_and_adds_the_flags(spoiled):
    rows = json.loads(cli("--db", spoiled, "--method", "bt", "--json"))
    assert isinstance(rows, list) and [r["rank"] for r in rows] == [1, 2, 3, 4]
    assert {"env", "player", "mu", "sigma", "conservative", "games", "wins", "draws", "losses", "bt", "bt_lo",
            "bt_hi", "beats_higher"} <= set(rows[0])
    assert rows[1]["beats_higher"][0]["player"] == "strong"
    nash = json.loads(cli("--db", spoiled, "--method", "nash", "--json"))
    assert {"nash", "nash_mass", "beats_higher"} <= set(nash[0])
    inv = json.loads(cli("--db", spoiled, "--method", "bt", "--inversions", "--json"))
    assert [(r["player"], r["opponent"]) for r in inv][0] == ("spoiler", "strong")
    assert json.loads(cli("--db", spoiled, "--method", "bt", "--inversions", "--top", "1", "--json")) == []


def test_the_table_marks_inversions_and_lists_them(spoiled, clean):
    text = cli("--db", spoiled, "--method", "bt")
    assert "Beat higher" in text.splitlines()[1]
    spoiler = next(line for line in text.splitlines() if line.startswith("2\t"))
    assert spoiler.startswith("2\tspoiler") and spoiler.endswith("strong (#1)")
    assert "# Rank inversions (3)" in text
    assert "# spoiler (rank 2) beat strong (rank 1): 0.75 [0.60, 0.86] over 40 games" in text
    assert "Nash mass" in cli("--db", spoiled, "--method", "nash")
    plain = cli("--db", clean)
    assert "Beat higher" not in plain and "inversions" not in plain
    csv_text = cli("--db", spoiled, "--method", "bt", "--csv")
    assert "beats_higher" in csv_text.splitlines()[0] and ",strong" in csv_text.splitlines()[2]
    assert "No rank inversions." in CliRunner().invoke(leaderboard_cmd, ["--db", clean, "--inversions"]).output


def test_a_player_without_games_among_the_listed_gets_no_nash_rating():
    entries = [{"player": p, "conservative": c} for p, c in (("idle", 9.0), ("a", 5.0), ("b", 1.0))]
    rows = rankings._with_nash([("a", "b", 3, 0, 1)], entries)
    assert [(r["player"], r["nash_mass"]) for r in rows] == [("a", 1.0), ("b", 0.0), ("idle", None)]
    assert rows[-1]["nash"] is None
