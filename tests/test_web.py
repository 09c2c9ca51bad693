"""`arena serve`: the web app over a store built by really playing (a numpy-learner league, matches, a tournament).

Plain HTTP tests (Starlette's TestClient) check the JSON twins against the CLI's --json, 4xx answers with one line
for bad input, read-only pages, and a game against an agent stored only on request. Browser tests drive Debian's
chromium headless through Playwright, on a real server on 127.0.0.1, and fail on any console error or any request
that leaves 127.0.0.1. With ARENA_WEB_SCREENSHOTS=DIR they also save screenshots of the main pages there (docs/).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from arena.cli import build_cli
from arena.config import load
from arena.registry import Registry
from arena.services.headtohead import HeadToHead, head_to_head
from arena.services.recording import open_store
from arena.services.scheduler import Scheduler
from arena.services.tournament import TournamentRequest, run_tournament
from arena.store import browse, rankings

try:
    from playwright.sync_api import expect
except ImportError:  # the browser tests skip, saying why; the HTTP tests still run
    expect = None

PLUGIN = Path(__file__).parent / "plugins" / "arena_numpy_learner.py"
C4 = "openspiel/connect_four-v0"
TTT = "openspiel/tic_tac_toe-v0"


def numpy_registry() -> Registry:
    """The built-in plugins and the numpy learner of tests/plugins (an algorithm without Ray)."""
    import runpy
    from types import SimpleNamespace

    from arena.testing import registry_with

    return registry_with(SimpleNamespace(**{**runpy.run_path(str(PLUGIN)), "__name__": "numpy_learner"}))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store with a 2-round league, rated matches with moves in three games, and a tournament."""
    root = tmp_path_factory.mktemp("web")
    db = root / "arena.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARENA_SNAPSHOTS", str(root / "snapshots"))
        reg = numpy_registry()
        from test_learner_contract import LEAGUE  # a league of the numpy learner on rock-paper-scissors

        (root / "np.toml").write_text(LEAGUE.format(lr=0.5, fixed="constant", extra="[stop]\nrounds = 2"))
        # the same learner on Kuhn poker, its copies' exploitability computed every round
        (root / "kx.toml").write_text(LEAGUE.format(lr=0.5, fixed="random", extra="[stop]\nrounds = 2").replace(
            'name = "np"', 'name = "kx"').replace("pettingzoo/rps_v2", "openspiel/kuhn_poker").replace(
            "snapshots = 1", "snapshots = 1\nexploitability = true"))
        with open_store(db) as store:
            Scheduler(load(root / "np.toml", reg), store, reg, run_dir=root / "runs", echo=lambda _: None).run()
            Scheduler(load(root / "kx.toml", reg), store, reg, run_dir=root / "runs", echo=lambda _: None).run()
            for env, players, games in ((C4, ("random", "connect_four_heuristic"), 6),
                                        (TTT, ("random", "mcts:simulations=10"), 6),
                                        ("openspiel/kuhn_poker", ("random", "constant"), 4)):
                head_to_head(reg, HeadToHead(env, players, games=games, seed=7, record_moves=True), store=store)
            run_tournament(reg, store, TournamentRequest(TTT, ("random", "constant", "mcts:simulations=10"),
                                                         games_per_pair=2, name="ttt-rr", seed=5))
        yield {"db": db, "registry": reg, "root": root}


@pytest.fixture(scope="module")
def client(site):
    from starlette.testclient import TestClient

    from arena.web import create_app

    app = create_app(site["db"], registry=site["registry"], allowed_hosts=["127.0.0.1"], cache=0)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


def cli_json(site, *args: str):
    reg = site["registry"]
    result = CliRunner().invoke(build_cli(reg), [*args, "--db", str(site["db"])], obj=reg)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- JSON twins ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cli, api", [
    (("leaderboard", "--json"), "/api/leaderboard"),
    (("leaderboard", "--json", "--method", "bt", "--env", "openspiel/connect_four"),
     "/api/leaderboard?method=bt&env=openspiel/connect_four"),
    (("leaderboard", "--json", "--method", "nash", "--league", "np"), "/api/leaderboard?method=nash&league=np"),
    (("leaderboard", "--json", "--tournament", "ttt-rr", "--top", "2"), "/api/leaderboard?tournament=ttt-rr&top=2"),
    (("league", "status", "np", "--json"), "/api/league/np"),
    (("league", "list", "--json"), "/api/leagues"),
    (("tournaments", "--json"), "/api/tournaments"),
])
def test_json_twins_return_the_cli_documents(site, client, cli, api):
    expected = cli_json(site, *cli)
    got = client.get(api)
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert got.json() == expected and expected  # the same, non-empty document


def test_payoff_and_history_twins_hold_the_store_queries(site, client):
    (table,) = cli_json(site, "payoff", "--env", "openspiel/connect_four", "--json")
    assert client.get("/api/payoff?env=openspiel/connect_four").json() == table
    history = cli_json(site, "history", "connect_four_heuristic", "--json")
    player = client.get("/api/player/connect_four_heuristic").json()
    assert player["history"] == history and len(history) == 6
    league = client.get("/api/payoff?league=np").json()
    members = {r["player"] for r in cli_json(site, "leaderboard", "--league", "np", "--json")}
    assert set(league["players"]) == members and len(league["score"]) == len(members)
    tournament = client.get("/api/payoff?tournament=ttt-rr").json()
    report = client.get("/api/tournament/ttt-rr").json()
    names = [s["player"] for s in report["standings"]]
    assert tournament["players"] == names
    assert tournament["score"] == [[report["payoff"][a][b] for b in names] for a in names]
    # the CLI reads the same tables (one service), and its meta-game views run on them
    assert cli_json(site, "payoff", "--league", "np", "--json") == [league]
    assert cli_json(site, "payoff", "--tournament", "ttt-rr", "--json") == [tournament]
    (mixture,) = cli_json(site, "payoff", "--league", "np", "--nash", "--json")
    assert mixture["league"] == "np" and {r["player"] for r in mixture["mixture"]} <= members
    assert sum(r["mass"] for r in mixture["mixture"]) == pytest.approx(1)


def test_player_lineage_links_a_snapshot_to_its_learner_round_and_steps(site, client):
    with open_store(site["db"], readonly=True) as store:
        snapshot = next(s["id"] for s in browse.snapshots(store) if s["id"].startswith("snapshot/np-"))
        row = browse.player(store, snapshot)
    doc = client.get("/api/player/" + snapshot).json()
    assert doc["player"]["parent"] == row["parent"] and doc["player"]["steps"] == row["steps"] > 0
    assert any(m["league"] == "np" for m in doc["lineage"]["leagues"])
    page = client.get("/player/" + snapshot).text
    assert str(row["steps"]) in page and "np" in page


def test_games_filter_by_game_player_league_and_tournament(site, client):
    with open_store(site["db"], readonly=True) as store:
        league_games = store.db.execute("SELECT count(*) FROM matches WHERE event = 'np'").fetchone()[0]
    doc = client.get("/api/games?league=np&limit=200").json()
    assert len(doc["games"]) == league_games > 0 and all(g["event"] == "np" for g in doc["games"])
    doc = client.get("/api/games?tournament=ttt-rr").json()
    assert len(doc["games"]) == 6 and all(g["event"] == "tournament:ttt-rr" for g in doc["games"])
    doc = client.get("/api/games?env=openspiel/connect_four&player=connect_four_heuristic&limit=4").json()
    assert len(doc["games"]) == 4 and doc["next"] == doc["games"][-1]["seq"]
    more = client.get(f"/api/games?env=openspiel/connect_four&player=connect_four_heuristic&before={doc['next']}")
    assert [g["seq"] for g in more.json()["games"]] == sorted({g["seq"] for g in more.json()["games"]}, reverse=True)
    assert len(more.json()["games"]) == 2  # 6 games: 4 on the first page, 2 after it


# -- bad input -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, status, fragment", [
    ("/api/player/nobody", 404, "Unknown player 'nobody'"),
    ("/api/replay/0123456789abcdef01234567", 404, "Unknown game"),
    ("/api/leaderboard?method=elo", 400, "Unknown ranking method"),
    ("/api/leaderboard?top=0", 400, "?top="),
    ("/api/leaderboard?env=nogame", 404, "Unknown env 'nogame'"),
    ("/api/leaderboard?env=%27%20OR%201%3D1%20--", 404, "Unknown env"),
    ("/api/games?limit=ten", 400, "whole number"),
    ("/api/games?league=nope", 404, "Unknown league 'nope'"),
    ("/api/payoff", 400, "pick one with ?env="),
    ("/api/tournament/nope", 404, "Unknown tournament 'nope'"),
    ("/api/tournament/ttt-rr?sprt=elo0=5", 400, "elo"),
    ("/api/league/nope", 404, "Unknown league"),
    ("/api/nothing/here", 404, "No such page"),
])
def test_bad_input_answers_4xx_with_one_line(client, path, status, fragment):
    got = client.get(path)
    assert got.status_code == status
    message = got.json()["error"]
    assert fragment in message and "\n" not in message and "Traceback" not in message
    page = client.get(path.replace("/api", "", 1))
    assert page.status_code == status and "text/html" in page.headers["content-type"]
    assert "Traceback" not in page.text and fragment.split("'")[0] in page.text


def test_a_replay_past_its_end_and_a_foreign_host_are_refused(site, client):
    game = client.get("/api/games?env=openspiel/connect_four&limit=1").json()["games"][0]
    got = client.get(f"/api/replay/{game['id']}?ply={game['length'] + 1}")
    assert got.status_code == 400 and "outside game" in got.json()["error"]
    assert client.get("/api/leaderboard", headers={"host": "evil.example"}).status_code == 400
    policy = client.get("/leaderboard").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy  # nothing from anywhere else


def test_pages_read_only_while_a_writer_holds_the_store(site, client):
    before = digest(site["db"])
    writer = sqlite3.connect(site["db"], isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a league writing: the pages must still answer
        writer.execute("UPDATE ratings SET games = games WHERE 0")
        for path in ("/leaderboard", "/api/leaderboard?method=bt", "/games", "/player/random", "/league/np",
                     "/tournament/ttt-rr", "/payoff?env=openspiel/tic_tac_toe"):
            started = time.monotonic()
            assert client.get(path).status_code == 200, path
            assert time.monotonic() - started < 5, path
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert digest(site["db"]) == before  # nothing a page did changed the store


def test_the_sprt_of_a_tournament_counts_its_stored_games(client):
    doc = client.get("/api/tournament/ttt-rr?sprt=elo0=0,elo1=50").json()
    first = doc["standings"][0]["player"]
    assert [t["opponent"] for t in doc["sprt"]] != [] and all(t["games"] == 2 for t in doc["sprt"])
    assert {t["player"] for t in doc["sprt"]} <= {first, *[s["player"] for s in doc["standings"]]}
    assert "SPRT" in client.get("/tournament/ttt-rr?sprt=elo0=0,elo1=50").text


# -- play against an agent over HTTP -------------------------------------------------------------------------------
def post(client, path, body, **kw):
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"}, **kw)


def test_a_game_against_an_agent_checks_every_move_and_is_stored_only_on_request(site, client):
    start = post(client, "/api/play", {"env": "openspiel/tic_tac_toe", "opponent": "random", "name": "ada"})
    assert start.status_code == 201
    state = start.json()
    sid = state["id"]
    assert state["players"] == ["human/ada", "random"] and len(state["legal"]) == 9
    for bad, fragment in ((99, "Illegal move 99"), ("x", "action number"), (True, "action number")):
        got = post(client, f"/api/play/{sid}/move", {"action": bad})
        assert got.status_code == 400 and fragment in got.json()["error"]
    assert client.post(f"/api/play/{sid}/move", content="{", headers={"content-type": "application/json"}
                       ).status_code == 400
    assert client.post(f"/api/play/{sid}/move", data={"action": "0"}).status_code == 400  # a form post: refused
    assert post(client, f"/api/play/{sid}/save", {}).status_code == 400  # not over yet
    with open_store(site["db"], readonly=True) as store:
        stored_before = store.db.execute("SELECT count(*) FROM matches").fetchone()[0]
    while not state["over"]:
        taken = state["legal"][0]["action"]
        state = post(client, f"/api/play/{sid}/move", {"action": taken}).json()
        assert state["over"] or taken not in [m["action"] for m in state["legal"]]
    assert {r["outcome"] for r in state["result"]} <= {"win", "draw", "loss"}
    assert post(client, f"/api/play/{sid}/move", {"action": 0}).status_code == 400  # over: no more moves
    with open_store(site["db"], readonly=True) as store:  # nothing stored until asked
        assert store.db.execute("SELECT count(*) FROM matches").fetchone()[0] == stored_before
    saved = post(client, f"/api/play/{sid}/save", {}).json()
    again = post(client, f"/api/play/{sid}/save", {}).json()
    assert saved["new"] and not again["new"] and saved["match"] == again["match"]
    with open_store(site["db"], readonly=True) as store:
        assert store.db.execute("SELECT count(*) FROM matches").fetchone()[0] == stored_before + 1
        rating = rankings.player_ratings(store, TTT, ["human/ada"])
        assert rating["human/ada"].games == 1
        assert browse.player(store, "human/ada")["kind"] == "human"
    with open_store(site["db"]) as store:
        assert store.rebuild(dry_run=True) == {}  # its rating update is the one a rebuild gives
    replay = client.get(f"/api/replay/{saved['match']}?ply={len(state['moves'])}").json()
    assert [r["score"] for r in replay["result"]] == [r["score"] for r in state["result"]]


def test_a_kept_page_is_rendered_anew_once_the_store_changes(site):
    from starlette.testclient import TestClient

    from arena.web import create_app

    app = create_app(site["db"], registry=site["registry"], cache=8)
    with TestClient(app, base_url="http://127.0.0.1") as cached:
        board = "/api/leaderboard?env=openspiel/tic_tac_toe"
        first = cached.get(board).json()
        assert cached.get(board).json() == first and "human/lin" not in {r["player"] for r in first}
        state = post(cached, "/api/play", {"env": "openspiel/tic_tac_toe", "opponent": "random", "name": "lin"}).json()
        while not state["over"]:
            state = post(cached, f"/api/play/{state['id']}/move", {"action": state["legal"][-1]["action"]}).json()
        assert post(cached, f"/api/play/{state['id']}/save", {}).json()["new"]
        assert "human/lin" in {r["player"] for r in cached.get(board).json()}


def test_a_game_against_a_league_snapshot_is_played_through(site, client, monkeypatch):
    monkeypatch.setenv("ARENA_SNAPSHOTS", str(site["root"] / "snapshots"))
    with open_store(site["db"], readonly=True) as store:
        snapshot = next(s["id"] for s in browse.snapshots(store) if s["id"].startswith("snapshot/np-"))
    state = post(client, "/api/play", {"env": "pettingzoo/rps_v2", "opponent": snapshot, "seat": 1}).json()
    assert state["players"] == [snapshot, "human/guest"] and [m["action"] for m in state["legal"]] == [0, 1, 2]
    while not state["over"]:  # rock-paper-scissors, moves at once: the list of legal moves, no board
        state = post(client, f"/api/play/{state['id']}/move", {"action": 0}).json()
    assert state["error"] is None and len(state["moves"]) == 30  # 15 rounds, both seats
    assert sum(r["score"] for r in state["result"]) == 1.0


@pytest.mark.parametrize("body, status, fragment", [
    ({"env": "openspiel/tic_tac_toe", "opponent": "nobody"}, 404, "Unknown policy 'nobody'"),
    ({"env": "nogame/x", "opponent": "random"}, 404, "Unknown env"),
    ({"env": "openspiel/tic_tac_toe", "opponent": "random", "seat": 5}, 400, "not a seat"),
    ({"env": "openspiel/tic_tac_toe", "opponent": "random", "name": "a b;"}, 400, "Bad name"),
    ({"env": "openspiel/tic_tac_toe", "opponent": "connect_four_heuristic"}, 400, "cannot play"),
    ({"opponent": "random"}, 400, "Give a game"),
])
def test_a_game_that_cannot_start_answers_4xx(client, body, status, fragment):
    got = post(client, "/api/play", body)
    assert got.status_code == status and fragment in got.json()["error"]


def test_an_unknown_game_in_play_is_404(client):
    assert client.get("/api/play/doesnotexist0").status_code == 404
    assert post(client, "/api/play/../../etc/move", {"action": 1}).status_code == 404


# -- the command ---------------------------------------------------------------------------------------------------
def test_serve_refuses_a_missing_store_and_a_taken_port_in_one_line(site, tmp_path):
    from arena.cli.serve import listening_socket

    reg = site["registry"]
    result = CliRunner().invoke(build_cli(reg), ["serve", "--db", str(tmp_path / "none.db")], obj=reg)
    assert result.exit_code == 2 and "No Arena store" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "none.db").exists()
    taken = listening_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(build_cli(reg), ["serve", "--db", str(site["db"]), "--port", str(port)], obj=reg)
        assert result.exit_code == 2 and f"Cannot listen on 127.0.0.1:{port}" in result.output
    finally:
        taken.close()


def test_serve_binds_loopback_by_default_and_warns_for_another_host(site, monkeypatch):
    import uvicorn

    seen = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: seen.append(sockets[0].getsockname()))
    reg = site["registry"]
    result = CliRunner().invoke(build_cli(reg), ["serve", "--db", str(site["db"]), "--port", "0"], obj=reg)
    assert result.exit_code == 0 and seen[-1][0] == "127.0.0.1" and "Warning" not in result.output
    result = CliRunner().invoke(build_cli(reg), ["serve", "--db", str(site["db"]), "--port", "0",
                                                 "--host", "0.0.0.0"], obj=reg)
    assert result.exit_code == 0 and seen[-1][0] == "0.0.0.0" and "Warning: listening on 0.0.0.0" in result.output
    opened = threading.Event()
    monkeypatch.setattr("webbrowser.open", lambda url: opened.set() or seen.append(url))
    result = CliRunner().invoke(build_cli(reg), ["serve", "--db", str(site["db"]), "--port", "0", "--open"], obj=reg)
    assert result.exit_code == 0 and opened.wait(5)
    assert seen[-1] == f"http://127.0.0.1:{seen[-2][1]}/leaderboard"


# -- in a real browser ---------------------------------------------------------------------------------------------
def chromium() -> str | None:
    for path in ("/usr/lib/chromium/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if path and os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="module")
def server(site):
    """The app on uvicorn on a free port of 127.0.0.1, in a thread; its base URL."""
    import uvicorn

    from arena.cli.serve import listening_socket
    from arena.web import create_app

    sock = listening_socket("127.0.0.1", 0)
    app = create_app(site["db"], registry=site["registry"], allowed_hosts=["127.0.0.1"])
    srv = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    if expect is None:
        pytest.skip("playwright is not installed (`make test` installs it: pip install -e '.[test]')")
    if path is None:
        pytest.skip("Debian's chromium is not installed (`make test` installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh page that records console errors and every request; one to anywhere but the server is aborted."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    seen = {"errors": [], "requests": [], "outside": []}

    def guard(route):
        if route.request.url.startswith(server + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            seen["outside"].append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: seen["errors"].append(str(e)))
    pg.on("request", lambda r: seen["requests"].append(r.url))
    pg.base = server
    pg.seen = seen
    yield pg
    context.close()
    assert seen["errors"] == [], seen["errors"]
    assert seen["outside"] == [] and seen["requests"], seen["outside"]
    assert all(u.startswith(server + "/") or u.startswith("data:") for u in seen["requests"])


def screenshot(pg, name: str) -> None:
    folder = os.environ.get("ARENA_WEB_SCREENSHOTS")
    if folder:
        pg.screenshot(path=str(Path(folder) / f"web-{name}.png"), full_page=True)


def test_browser_leaderboard_rows_equal_the_store(site, page):
    page.goto(page.base + "/leaderboard?env=openspiel/connect_four")
    rows = page.locator("table.board tbody tr")
    shown = [(rows.nth(i).get_attribute("data-player"), int(rows.nth(i).locator("td").nth(5).inner_text()))
             for i in range(rows.count())]
    with open_store(site["db"], readonly=True) as store:
        expected = [(r["player"], r["games"]) for r in rankings.leaderboard(store, env=C4)]
    assert shown == expected and len(expected) == 2
    page.goto(page.base + "/leaderboard?league=np&method=bt")
    shown = page.locator("table.board tbody tr").evaluate_all("rows => rows.map(r => r.dataset.player)")
    with open_store(site["db"], readonly=True) as store:
        expected = [r["player"] for r in rankings.leaderboard(store, league="np", method="bt")]
    assert shown == expected and page.locator("td.interval svg").count() == len(expected)
    page.goto(page.base + "/leaderboard?env=openspiel/tic_tac_toe")
    assert page.locator("table.board tbody tr").count() >= 3
    screenshot(page, "leaderboard")


def test_browser_rating_plot_draws_mu_band_and_a_marker_per_game(site, page):
    page.goto(page.base + "/player/connect_four_heuristic")
    plot = page.locator("#rating-plot")
    with open_store(site["db"], readonly=True) as store:
        games = len(rankings.history(store, "connect_four_heuristic", C4))
    assert plot.locator("circle.marker").count() == games > 0
    assert plot.locator("path.line").count() == 1 and plot.locator("polygon.band").count() == 1
    screenshot(page, "player")
    plot.locator("circle.marker").first.click()  # a marker opens its game's replay
    page.wait_for_url("**/replay/*")
    assert page.locator("#plies").inner_text().isdigit()


def test_browser_replay_steps_to_the_last_move_and_shows_the_result(site, page):
    with open_store(site["db"], readonly=True) as store:
        game = browse.list_games(store, env=C4, limit=1)[0]
    page.goto(page.base + f"/replay/{game['id']}")
    assert page.locator("#result").is_hidden() and page.locator(".grid .cell.p1").count() == 0
    for ply in range(1, game["length"] + 1):
        page.click("#next")
        expect(page.locator("body")).to_have_attribute("data-ply", str(ply))
    pieces = page.locator(".grid .cell.p1").count() + page.locator(".grid .cell.p2").count()
    assert pieces == game["length"]
    result = page.locator("#result")
    assert result.is_visible()
    winner = next(s["player"] for s in game["seats"] if s["score"] == 1)
    assert "win" in result.inner_text() and winner in result.inner_text()
    screenshot(page, "replay")


def test_browser_replay_keeps_hidden_information_until_the_end(site, page):
    from arena.services.replay import replay

    with open_store(site["db"], readonly=True) as store:
        game = browse.list_games(store, env="openspiel/kuhn_poker-v0", limit=1)[0]
        full = replay(site["registry"], browse.game(store, game["id"]))["position"]["text"]  # the cards, at the end
    page.goto(page.base + f"/replay/{game['id']}?ply=1")
    start = page.locator("#state-text").inner_text()
    assert start.strip() != full.strip() and page.locator("#moves li").count() == 0
    assert page.locator("#result").is_hidden()
    page.click("#last")
    expect(page.locator("body")).to_have_attribute("data-ply", str(game["length"]))
    assert page.locator("#state-text").inner_text().strip() == full.strip()
    assert page.locator("#moves li").count() == game["length"] and page.locator("#result").is_visible()


def test_browser_plays_a_game_against_random_to_its_end_by_clicking(site, page):
    page.goto(page.base + "/play")
    page.fill("input[name=env]", "openspiel/tic_tac_toe")
    page.fill("input[name=opponent]", "random")
    page.fill("input[name=name]", "grace")
    page.click("#start")
    page.wait_for_url("**/play/*")
    clicks = 0
    while page.locator("body").get_attribute("data-over") != "true":
        before = page.locator(".cell.p1").count()
        page.locator(".cell.legal").first.click()
        expect(page.locator(".cell.p1")).to_have_count(before + 1)  # the square clicked (the page waits its turn)
        clicks += 1
        assert clicks <= 5
    assert page.locator("#result").is_visible() and page.locator(".cell.legal").count() == 0
    screenshot(page, "play")
    page.click("#save")
    page.wait_for_selector("#saved a")
    with open_store(site["db"], readonly=True) as store:
        assert rankings.player_ratings(store, TTT, ["human/grace"])["human/grace"].games == 1


def test_browser_connect_four_is_played_by_clicking_a_column(site, page):
    page.goto(page.base + "/play")
    page.fill("input[name=env]", "openspiel/connect_four")
    page.fill("input[name=opponent]", "random")
    page.click("#start")
    page.wait_for_url("**/play/*")
    page.locator(".cell[data-row='0'][data-col='3']").click()  # the top of column 3: the disc drops to the bottom
    expect(page.locator(".cell.p1")).to_have_count(1)
    assert page.locator(".cell.p1").get_attribute("data-col") == "3"
    assert page.locator(".cell.p1").get_attribute("data-row") == "5"


def test_browser_league_heatmap_and_tournament_pages_draw(site, page):
    page.goto(page.base + "/league/np")
    page.wait_for_selector("#rounds tbody tr")
    assert page.locator("#rounds tbody tr").count() == 2
    assert page.locator("#league-plot path.line").count() >= 1
    screenshot(page, "league")
    page.goto(page.base + "/payoff?env=openspiel/tic_tac_toe")
    with open_store(site["db"], readonly=True) as store:
        n = len(rankings.payoff(store, TTT)["players"])
    assert page.locator("#heatmap rect").count() == n * n and n >= 3
    screenshot(page, "heatmap")
    page.goto(page.base + "/tournament/ttt-rr?sprt=elo0=0,elo1=50")
    assert page.locator("#standings tr").count() == 4 and page.locator("#sprt tr").count() == 3
    screenshot(page, "tournament")
    page.goto(page.base + "/games?env=openspiel/connect_four")
    assert page.locator("table.games tbody tr").count() == 6


def test_browser_league_page_plots_exploitability_over_rounds(site, page):
    page.goto(page.base + "/league/kx")
    page.wait_for_selector("#league-exploitability path.line")
    # a line for the round's copy and one for the average of the copies so far, a point a round on each
    assert page.locator("#league-exploitability circle.marker").count() == 4
    assert page.locator("#league-exploitability text.legend").all_text_contents() == ["main", "main average"]
    doc = json.loads(page.context.request.get(page.base + "/api/league/kx").text())
    assert [r["round"] for r in doc["exploitability"]] == [1, 2]
    assert all(0 <= r["main"] <= 2 for r in doc["exploitability"])
    average = [r["main"] for r in doc["exploitability_average"]]
    assert average[0] == doc["exploitability"][0]["main"] and len(average) == 2  # round 1: one copy, itself
    page.goto(page.base + "/league/np")  # rock-paper-scissors: no such plot
    page.wait_for_selector("#league-plot path.line")
    assert page.locator("#league-exploitability").count() == 0


def test_browser_league_page_refreshes_while_the_league_runs(site, page):
    from types import SimpleNamespace

    from arena.store import leagues as state

    with open_store(site["db"]) as store:  # the league runs again (as `arena league run --resume` marks it)
        row = state.get(store, "np")
        fixed = [m for m in state.pool(store, "np", active_only=False).members if m.kind == "fixed"]
        state.start(store, SimpleNamespace(name="np", env=row["env"], path=row["file"], text=row["config"]), fixed,
                    resume=True)
    try:
        page.goto(page.base + "/league/np?refresh=1")
        expect(page.locator("#league-status")).to_have_attribute("data-status", "running")
        assert page.locator(".live").is_visible()
        with open_store(site["db"]) as store:  # ... and stops: the page, polling, shows it without a reload by hand
            state.finish(store, "np", "finished", "2 rounds", row["elapsed_s"])
        expect(page.locator("#league-status")).to_have_attribute("data-status", "finished", timeout=10_000)
        assert page.locator(".live").count() == 0
    finally:
        with open_store(site["db"]) as store:
            state.finish(store, "np", row["status"], row["stop_reason"], row["elapsed_s"])


def test_games_with_one_side_have_a_return_board_on_the_page_and_in_the_json_twin(tmp_path):
    """A one-seat game and a cooperative simulation: mean returns with intervals, as `arena leaderboard --json`."""
    from starlette.testclient import TestClient

    from arena.web import create_app

    reg, db = Registry(), tmp_path / "r.db"
    with open_store(db) as store:
        head_to_head(reg, HeadToHead("gymnasium/CartPole-v1", ("random",), games=6, seed=1), store=store)
        head_to_head(reg, HeadToHead("mpe/simple_spread", ("mpe-spread",), games=4, seed=1), store=store)
    app = create_app(db, registry=reg, allowed_hosts=["127.0.0.1"], cache=0)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        rows = client.get("/api/leaderboard").json()
        page = client.get("/leaderboard").text
    result = CliRunner().invoke(build_cli(reg), ["leaderboard", "--json", "--db", str(db)], obj=reg)
    assert rows == json.loads(result.stdout)
    by_env = {r["env"]: r for r in rows}
    assert set(by_env) == {"gymnasium/CartPole-v1", "mpe/simple_spread_v3"}
    assert all(r["scored_by"] == "return" and r["return_lo"] <= r["mean_return"] <= r["return_hi"] for r in rows)
    assert by_env["gymnasium/CartPole-v1"]["games"] == 6 and by_env["mpe/simple_spread_v3"]["games"] == 4
    assert "No rated players" not in page and page.count('class="board returns"') == 2
    assert f"{by_env['gymnasium/CartPole-v1']['mean_return']:.2f}" in page
