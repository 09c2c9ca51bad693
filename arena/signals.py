"""Stopping on SIGTERM as on Ctrl-C: the signal raises `Terminated`, a KeyboardInterrupt, in the main thread.

Every command already stops cleanly on KeyboardInterrupt (a league after committing what it finished, a match or a
tournament after storing the games played, `arena train` after freezing a last snapshot), so `timeout`, `kill` or
a service manager stop it the same way. Ray's `ray.init` puts its own SIGTERM handler in place (a bare
`sys.exit` that skips those steps, and a C++ handler that dumps a stack and dies), so the one place that calls
it (plugins/ray_session.py) runs it inside `kept_from_children()`, which also keeps a SIGTERM sent to the whole
process group (as `timeout` sends it) from killing Ray's processes under the driver.

`deferred()` holds SIGINT and SIGTERM back during a store write, so neither lands between BEGIN and COMMIT.
If a stop still hangs, the first SIGTERM has started a watchdog that ends the process `GRACE_S` seconds later;
what was committed by then stays committed (a transaction cut short is rolled back, as after kill -9).
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

GRACE_S = 25.0  # a stop must take less than 30 s; the watchdog leaves the process this long to stop cleanly
EXIT_CODE = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM

_installed = False
_received = threading.Event()
_stopping = False  # set first by the SIGTERM handler, which must not take a lock before it
_done = threading.Event()


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as for Ctrl-C."""


def install() -> None:
    """From now on, SIGTERM raises Terminated in the main thread (does nothing off the main thread)."""
    global _installed
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
        _installed = True


def reinstall() -> None:
    """Put Arena's SIGTERM handler back if install() was called (after ray.init replaced it); otherwise nothing,
    so a program that uses Arena as a library keeps its own handling."""
    if _installed:
        install()


@contextlib.contextmanager
def kept_from_children() -> Iterator[None]:
    """Block SIGTERM while the block starts long-lived processes (Ray's raylet and GCS inherit the mask), so that a
    SIGTERM sent to the whole process group stops this process, cleanly, and not them under it; a SIGTERM that
    arrives meanwhile is acted on right after the block, by Arena's handler (put back, since ray.init replaces it).
    Does nothing unless install() was called, or off the main thread."""
    if not _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        install()
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def received() -> bool:
    """Whether SIGTERM has arrived (the command is stopping because of it)."""
    return _received.is_set()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs, then act on them as their handlers would have.

    For a store write and its bookkeeping: interrupted between BEGIN and the block that rolls back, a transaction
    stays open (and what the stop commits next is lost with it); interrupted just after COMMIT, the caller does not
    know its rows are stored. Only on the main thread (where Python runs signal handlers); elsewhere it does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(sig) is not None}  # None: a handler set outside Python (Ray's), left alone
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in caught:
            handler = previous[sig]
            if callable(handler):
                handler(sig, None)  # raises KeyboardInterrupt or Terminated, or tells an outer deferred() block
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), sig)  # as it would have been: the process ends


def _on_sigterm(signum: int, frame: Any) -> None:
    # A plain flag first, no lock: a second SIGTERM can arrive while this handler runs (GNU timeout signals the
    # child and then its whole process group), and Python runs the handler again inside the first one. Re-entered
    # inside Event.set(), the handler deadlocked on the Event's lock (a league hung that way, seen with py-spy).
    global _stopping
    if _stopping:
        return  # already stopping; the watchdog bounds how long that takes
    _stopping = True
    _received.set()
    threading.Thread(target=_watchdog, name="arena-sigterm-watchdog", daemon=True).start()
    raise Terminated()


def _watchdog() -> None:
    _done.wait(GRACE_S)  # never set: a daemon thread, it ends with the process if that stops in time
    try:
        sys.stderr.write(f"arena: not stopped {GRACE_S:.0f} s after SIGTERM; exiting now (what was stored is kept).\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_CODE)
