"""The web app's routes: each page and its JSON twin under /api/ build one document (arena.web.documents) and render
it as HTML or JSON; the play endpoints drive a game against an agent (arena.services.humanplay)."""
from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from arena.errors import UnknownIdError, UsageError
from arena.store import browse
from arena.web import documents as docs
from arena.web.app import integer, json_body, json_response, text

SESSION = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")


def routes(app: Any, handled: Any) -> list[Route]:
    """Every route of the app; `handled` wraps an endpoint so its errors answer 4xx/5xx with one line."""
    out: list[Route] = []

    def twin(path: str, template: str, build: Any, api: Any = None, embed: bool = True) -> None:
        """A page at `path` and its JSON twin at /api`path`; `api` builds the twin's document when it is the CLI's
        (a subset of what the page shows), else the twin returns the page's own document."""

        def page(request: Request) -> Response:
            def render() -> Response:
                with app.store() as store:
                    doc = build(request, store)
                return app.page(template, doc, request, embed=embed)

            return app.cached(request, render)

        def data(request: Request) -> Response:
            def render() -> Response:
                with app.store() as store:
                    return json_response((api or build)(request, store))

            return app.cached(request, render)

        page.__name__ = data.__name__ = template.split(".")[0]
        out.append(Route(path, handled(app, page)))
        out.append(Route("/api" + path, handled(app, data)))

    # -- the store's pages ----------------------------------------------------------------------------------------
    twin("/", "index.html", lambda r, s: docs.index(s))

    def board_options(r: Request) -> dict[str, Any]:
        return {"env": text(r, "env"), "league": text(r, "league"), "tournament": text(r, "tournament"),
                "method": text(r, "method") or "trueskill", "top": integer(r, "top", low=1, high=100_000)}

    twin("/leaderboard", "leaderboard.html", lambda r, s: docs.leaderboard(s, **board_options(r)),
         api=lambda r, s: docs.leaderboard_json(s, **board_options(r)), embed=False)
    twin("/player/{id:path}", "player.html", lambda r, s: docs.player(s, r.path_params["id"]))
    twin("/payoff", "payoff.html", lambda r, s: docs.payoff(
        s, env=text(r, "env"), league=text(r, "league"), tournament=text(r, "tournament"), registry=app.registry))
    twin("/leagues", "leagues.html", lambda r, s: docs.leagues(s))
    twin("/league/{name}/rounds", "rounds.html", lambda r, s: docs.league_rounds(s, r.path_params["name"]))
    twin("/league/{name}", "league.html", lambda r, s: docs.league(s, r.path_params["name"]))
    twin("/tournaments", "tournaments.html", lambda r, s: docs.tournaments(s))
    twin("/tournament/{name}", "tournament.html",
         lambda r, s: docs.tournament(s, r.path_params["name"], sprt=text(r, "sprt"), registry=app.registry))

    def game_filters(r: Request) -> dict[str, Any]:
        return {"env": text(r, "env"), "player": text(r, "player"), "league": text(r, "league"),
                "tournament": text(r, "tournament"), "before": integer(r, "before", low=0),
                "limit": integer(r, "limit", low=1, high=200) or 50}

    twin("/games", "games.html", lambda r, s: docs.games(s, **game_filters(r)))

    def replay_doc(r: Request, s: Any) -> dict[str, Any]:
        from arena.services.replay import replay

        ply = integer(r, "ply", low=0)  # the start by default: hidden information is shown only at the end
        return replay(app.registry, docs.stored_game(s, r.path_params["id"]), 0 if ply is None else ply)

    twin("/replay/{id}", "replay.html", replay_doc)

    # -- play against an agent ------------------------------------------------------------------------------------
    def play_form(request: Request) -> Response:
        return app.page("play.html", play_choices(app), request)

    def session(request: Request) -> Any:
        sid = request.path_params["sid"]
        game = app.sessions.get(sid) if SESSION.match(sid) else None
        if game is None:
            raise UnknownIdError("game in play", sid, [], "/play", listing="to start a new one")
        return game

    async def start(request: Request) -> Response:
        body = await json_body(request)
        env, opponent = body.get("env"), body.get("opponent")
        if not isinstance(env, str) or not env.strip() or not isinstance(opponent, str) or not opponent.strip():
            raise UsageError("Give a game (\"env\") and an opponent (\"opponent\").")
        seat = body.get("seat", 0)
        name = body.get("name") or "guest"
        from starlette.concurrency import run_in_threadpool

        game = await run_in_threadpool(app.sessions.start, app.registry, env.strip(), opponent.strip(), seat=seat,
                                       name=name)
        return json_response(game.state(), 201)

    def play_page(request: Request) -> Response:
        return app.page("game.html", session(request).state(), request)

    def play_state(request: Request) -> Response:
        return json_response(session(request).state())

    async def move(request: Request) -> Response:
        body = await json_body(request)
        game = session(request)
        from starlette.concurrency import run_in_threadpool

        return json_response(await run_in_threadpool(game.move, body.get("action")))

    def save(request: Request) -> Response:
        game = session(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise UsageError("Send the request as JSON (Content-Type: application/json).")
        with app.store() as _:  # the store must still be there: a writable open would create a new one
            pass
        with app.store(readonly=False) as store:
            return json_response(game.save(store))

    out += [Route("/play", handled(app, play_form)),
            Route("/api/play", handled(app, start), methods=["POST"]),
            Route("/play/{sid}", handled(app, play_page)),
            Route("/api/play/{sid}", handled(app, play_state)),
            Route("/api/play/{sid}/move", handled(app, move), methods=["POST"]),
            Route("/api/play/{sid}/save", handled(app, save), methods=["POST"]),
            Route("/index", lambda r: RedirectResponse("/"))]
    return out


PLAYABLE = ("openspiel/connect_four", "openspiel/tic_tac_toe", "pettingzoo/connect_four_v3",
            "pettingzoo/tictactoe_v3", "openspiel/kuhn_poker", "openspiel/leduc_poker", "openspiel/liars_dice",
            "openspiel/goofspiel")
OPPONENTS = ("random", "connect_four_heuristic", "mcts:simulations=200", "mcts:simulations=1000", "alphabeta")


def play_choices(app: Any) -> dict[str, Any]:
    """The games and opponents the play form offers (any other env id or policy spec may be typed)."""
    snapshots: list[dict[str, Any]] = []
    try:
        with app.store() as store:
            snapshots = browse.snapshots(store)
    except Exception:  # the form still works without the store
        pass
    policies = app.registry.ids("policy")
    return {"envs": list(PLAYABLE), "opponents": [o for o in OPPONENTS if o.split(":")[0] in policies],
            "snapshots": snapshots, "policies": [p for p in policies if "*" not in p]}
