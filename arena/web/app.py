"""The web app (`arena serve`): Starlette routes that render the documents of arena.web.documents as HTML pages and,
under /api/, as JSON; and the endpoints to play against an agent. Every page opens the store read-only; the one
write is storing a finished game against an agent, on request. Errors answer 4xx with one line, never a traceback."""
from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import markupsafe
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from arena.errors import ArenaError, UnknownIdError, UsageError

HERE = Path(__file__).resolve().parent
LOG = logging.getLogger("arena.web")
# Pages load scripts, styles and data from this server only; nothing from anywhere else.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


class WebApp:
    """What the routes share: the store's path, the registry (games and policies), templates and games in play."""

    def __init__(self, db: str | Path, registry: Any = None, cache: int = 64):
        from arena.services.humanplay import Sessions

        self.db = Path(db)
        self.cache_size = cache
        self._cache: OrderedDict[tuple[Any, ...], Response] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._registry = registry
        self.sessions = Sessions()
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                            autoescape=jinja2.select_autoescape(["html"]),
                                            undefined=jinja2.StrictUndefined)
        self.templates.globals.update(url=url, player_url=player_url, fmt=fmt, pct=pct, heat=heat,
                                      outcome=outcome_of)

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from arena.registry import Registry

            self._registry = Registry()
        return self._registry

    def store_state(self) -> tuple[int, ...]:
        """What changes whenever anything is written to the store: size and time of the file and of its WAL (every
        commit appends to the WAL, a checkpoint rewrites the file). Two stat calls."""
        out: list[int] = []
        for path in (self.db, self.db.with_name(self.db.name + "-wal")):
            try:
                st = path.stat()
                out += [st.st_mtime_ns, st.st_size, st.st_ino]
            except OSError:
                out += [0, 0, 0]
        return tuple(out)

    def cached(self, request: Request, render: Callable[[], Response]) -> Response:
        """A page or JSON answer as rendered for this URL since the store last changed, else rendered now. Only
        successful answers are kept, the last `cache_size` of them."""
        if not self.cache_size:
            return render()
        key = (request.url.path, request.url.query, self.store_state())
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return Response(hit.body, status_code=hit.status_code, media_type=hit.media_type)
        response = render()
        if response.status_code == 200 and key[2] == self.store_state():  # nothing was written meanwhile
            with self._cache_lock:
                self._cache[key] = response
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return response

    @contextlib.contextmanager
    def store(self, *, readonly: bool = True) -> Iterator[Any]:
        from arena.services.recording import open_store

        with open_store(self.db, readonly=readonly) as store:
            yield store

    def page(self, template: str, doc: Any, request: Request, status: int = 200, embed: bool = True,
             **extra: Any) -> HTMLResponse:
        """The template rendered with `doc`; `embed`: the page's script reads the document too (as JSON in it)."""
        data = markupsafe.Markup(dumps(doc).replace("<", "\\u003c").replace(">", "\\u003e")
                                 .replace("&", "\\u0026") if embed else "null")
        html = self.templates.get_template(template).render(doc=doc, request=request, db=str(self.db), data=data,
                                                            **extra)
        return HTMLResponse(html, status_code=status)


# -- formatting helpers for the templates --------------------------------------------------------------------------
def url(path: str, **query: Any) -> str:
    """A link with a query string of the given values (None left out)."""
    given = {k: v for k, v in query.items() if v is not None and v != ""}
    return path + ("?" + urlencode(given) if given else "")


def player_url(player: str) -> str:
    return "/player/" + quote(player, safe="")


def fmt(value: Any, spec: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return format(value, spec)


def pct(value: Any) -> str:
    return "" if value is None else f"{100 * value:.0f}%"


def heat(score: float | None) -> str:
    """A colour for a score in [0, 1]: red (0) through white (0.5) to blue (1); grey when there is none."""
    if score is None:
        return "#eeeeee"
    s = max(0.0, min(1.0, float(score)))
    if s < 0.5:
        t = s / 0.5
        return f"rgb(220,{int(80 + 175 * t)},{int(80 + 175 * t)})"
    t = (s - 0.5) / 0.5
    return f"rgb({int(255 - 175 * t)},{int(255 - 135 * t)},255)"


def outcome_of(seat: dict[str, Any], seats: list[dict[str, Any]]) -> str:
    if seat.get("score") is None:
        return "error"
    best = [s for s in seats if s.get("rank") == 0]
    return "win" if seat.get("rank") == 0 and len(best) == 1 else "draw" if seat.get("rank") == 0 else "loss"


# -- JSON -------------------------------------------------------------------------------------------------------------
def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    return obj


def dumps(doc: Any) -> str:
    return json.dumps(_clean(doc), allow_nan=False, default=str)


def json_response(doc: Any, status: int = 200) -> Response:
    return Response(dumps(doc), status_code=status, media_type="application/json")


# -- errors -----------------------------------------------------------------------------------------------------------
def status_of(error: Exception) -> int:
    if isinstance(error, UnknownIdError):
        return 404
    if isinstance(error, UsageError):
        return 400
    from arena.store import StoreError

    if isinstance(error, StoreError):
        return 503
    return 500


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def error_response(app: WebApp, request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return json_response({"error": message, "status": status}, status)
    return app.page("error.html", {"error": message, "status": status}, request, status=status)


def handled(app: WebApp, fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """A route (sync or async) whose errors become a 4xx (bad input, unknown id) or 5xx answer of one line, never a
    traceback."""

    def answer(request: Request, e: Exception) -> Response:
        if isinstance(e, (ArenaError, sqlite3.Error)):
            return error_response(app, request, status_of(e) if isinstance(e, ArenaError) else 503, one_line(e))
        LOG.exception("error in %s", request.url.path)  # a bug: its traceback on the server, one line in the page
        return error_response(app, request, 500, f"Internal error: {type(e).__name__}: {one_line(e)}")

    if inspect.iscoroutinefunction(fn):
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except HTTPException:
                raise
            except Exception as e:
                return answer(request, e)
    else:
        def endpoint(request: Request) -> Response:  # type: ignore[misc]  # run on Starlette's thread pool
            try:
                return fn(request)
            except HTTPException:
                raise
            except Exception as e:
                return answer(request, e)

    endpoint.__name__ = fn.__name__
    return endpoint


# -- request parsing --------------------------------------------------------------------------------------------------
def text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value.strip() == "":
        return None
    if len(value) > 1000:
        raise UsageError(f"?{name}= is too long.")
    return value.strip()


def integer(request: Request, name: str, *, low: int | None = None, high: int | None = None) -> int | None:
    value = text(request, name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"?{name}= must be a whole number, got {value!r}.") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise UsageError(f"?{name}= must lie between {low} and {high}, got {number}.")
    return number


async def json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise UsageError("Send the request body as JSON (Content-Type: application/json).")
    raw = await request.body()
    if len(raw) > 10_000:
        raise UsageError("The request body is too long.")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise UsageError("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise UsageError("The request body must be a JSON object.")
    return body


class SecurityHeaders:
    """Adds the Content-Security-Policy and friends to every answer (a plain ASGI middleware: no per-request task)."""

    HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"no-referrer")]

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(db: str | Path, *, registry: Any = None, allowed_hosts: list[str] | None = None,
               cache: int = 64) -> Starlette:
    """The app for the store at `db`. `allowed_hosts` (default: any) are the Host headers it answers; `arena serve`
    passes the loopback names when it binds 127.0.0.1, so that a page elsewhere cannot reach it by DNS rebinding.
    `cache`: how many rendered pages to keep until the store changes (0: render every request)."""
    from arena.web.routes import routes

    app = WebApp(db, registry, cache)

    async def not_found(request: Request, exc: HTTPException) -> Response:
        message = "No such page." if exc.status_code == 404 else str(exc.detail)
        return error_response(app, request, exc.status_code, message)

    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> Any:
        yield
        app.sessions.close()  # the games in play end with the server

    web = Starlette(lifespan=lifespan, routes=[*routes(app, handled), Mount("/static", StaticFiles(directory=HERE / "static"),
                                                         name="static"),
                            Route("/favicon.ico", lambda r: Response(status_code=204))],
                    middleware=middleware, exception_handlers={HTTPException: not_found})
    web.state.arena = app
    return web

