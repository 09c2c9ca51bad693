"""`arena serve`: the web app (arena.web) on uvicorn, on 127.0.0.1 unless another host is asked for."""
from __future__ import annotations

import socket
import threading
import webbrowser

import click

from arena.cli.options import db_option
from arena.errors import UsageError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and listening, or one line saying why not (port taken, unknown host)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: cannot resolve it ({e.strerror}).") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise UsageError(f"Cannot listen on {host}:{port}: {e.strerror or e}. Pick another --port.") from None
    return sock


@click.command("serve")
@db_option("The Arena store to show, opened read-only")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but this machine's loopback lets others reach the pages.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the leaderboard in the browser.")
@click.option("--no-cache", is_flag=True, help="Render every request anew (by default a page is kept until the store "
                                               "changes).")
@click.pass_context
def serve_cmd(ctx: click.Context, db_path: str, host: str, port: int, open_browser: bool, no_cache: bool) -> None:
    """Serve the store as web pages: leaderboards, players, head-to-head heatmaps, leagues, tournaments, games and
    replays (each with its JSON under /api/), and play against an agent in the browser.

    \b
    Example: arena serve --db arena.db --open
    Pages read the store read-only, so a league can keep writing to it. Ctrl-C stops the server.
    """
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise UsageError(f"arena serve needs {e.name}, one of Arena's dependencies: install Arena again "
                         "(make setup, or pip install -e .).") from None
    from arena.services.recording import open_store
    from arena.web import create_app
    from arena.web.app import LOOPBACK_HOSTS

    open_store(db_path, readonly=True).close()  # a missing store, or one that is not Arena's: one line, now
    loopback = host in LOOPBACK
    if not loopback:
        click.secho(f"Warning: listening on {host}: anyone who can reach this machine on port {port} can read "
                    "this store's pages and store rated games in it. Leave out --host to serve only this machine.",
                    fg="yellow", err=True)
    sock = listening_socket(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/leaderboard"
    app = create_app(db_path, registry=ctx.find_root().obj,
                     allowed_hosts=LOOPBACK_HOSTS if loopback else None,
                     cache=0 if no_cache else 64)
    click.echo(f"Serving {db_path} at {url} (Ctrl-C stops).", err=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, [url]).start()
    # log_config=None: uvicorn's dictConfig would close every logging handler already set up (Ray's, a test's)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
