"""Quiet by default: Ray's, RLlib's and their libraries' own notices stay off a user's terminal unless asked for.

Arena's own output (progress lines, results, its one-line errors) goes through none of these channels, so it is
never hidden. What quiet mode hides, and where it comes from (Ray 2.x):

- records of the `ray` logger tree below ERROR: "Token authentication is enabled ...", "Started a local Ray
  instance.", RLlib's "You are running PPO on the new API stack!", "DeprecationWarning: ..." (ray._common
  .deprecation), "Install gputil for GPU system monitoring." (ray.tune), "No samples returned from remote
  workers" (RLlib). Ray puts a handler on `ray` and RLlib its own on `ray.rllib` (which does not propagate),
  and RLlib sets the `ray.rllib` level back to its config's when an algorithm is built; so the floor is set
  on those handlers, including one added later;
- RLlib's notices about the EnvRunners it restarts ("Ray error (...), taking actor N out of service", "Bringing
  previously unhealthy ... back into service"): fault tolerance doing its job, logged at ERROR;
- messages Ray relays to the driver, e.g. "(raylet) A worker died or was killed while executing a task ..."
  (printed on stdout, so they would also spoil --json output): $RAY_DEDUP_LOGS_SKIP_REGEX, read when ray is
  imported;
- the output of Ray's worker processes (log_to_driver=False); it stays in Ray's session logs;
- Python warnings: deprecations and future changes from anywhere, any warning raised inside ray, gymnasium,
  torch and the game libraries.

A Ray failure Arena cares about still reaches the user: it arrives as an exception, which Arena reports.
`quiet(verbose)` is called once at CLI start-up; `arena.plugins.ray_session.connect` reads the choice back.
Not silenced: lines that Ray's C++ core writes straight to stderr (e.g. when RLlib creates remote EnvRunners,
"Actor ... has constructor arguments in the object store and max_restarts > 0"; the stack dump on SIGTERM).
Nothing here imports ray or torch.
"""
from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

VERBOSE_ENV_VAR = "ARENA_VERBOSE"  # "1": as if -v were given (also for programs that use Arena as a library)

# Libraries whose warnings are theirs to fix, not the user's: ignored in quiet mode, whatever their category.
NOISY_MODULES = ("ray", "gymnasium", "gym", "torch", "pettingzoo", "pyspiel", "open_spiel", "tree", "pygame")
# Loggers with handlers of their own in Ray's logger tree.
RAY_LOGGERS = ("ray", "ray.rllib")
# Loggers whose records are hidden in quiet mode even at ERROR: notices about recoveries that RLlib makes on
# its own, e.g. an EnvRunner restarted after its process died.
RECOVERY_LOGGERS = ("ray.rllib.utils.actor_manager",)
# Set in this process before ray is imported, in quiet mode. The value marks it as Arena's (a regex comment),
# so that a verbose run, or a child process started with -v, takes it out again and leaves a user's own alone.
# RAY_BACKEND_LOG_LEVEL: the C++ core's own lines on stderr, such as its notice on every restartable EnvRunner
# actor ("has constructor arguments in the object store and max_restarts > 0"); Arena reports failures itself.
DRIVER_ENV = {"RAY_DEDUP_LOGS_SKIP_REGEX": "(?#arena quiet mode).", "RAY_BACKEND_LOG_LEVEL": "fatal"}
# Environment of Ray's worker processes in quiet mode (runtime_env env_vars): their own Python warnings off.
WORKER_ENV = {"PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::PendingDeprecationWarning,ignore::FutureWarning"}

_verbose: bool | None = None  # the choice made by quiet(); None until it is called (then $ARENA_VERBOSE decides)
_filters: list[Any] = []  # the warnings filters quiet() added, so that quiet(True) can take them out again


def _env_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no", "off")


def is_verbose() -> bool:
    """Whether Ray's and RLlib's own output should be shown: quiet()'s choice, else $ARENA_VERBOSE."""
    return _verbose if _verbose is not None else _env_verbose()


def quiet(verbose: bool = False) -> None:
    """Hide Ray's, RLlib's and their libraries' notices in this process, unless `verbose` (or $ARENA_VERBOSE=1).

    Called once at CLI start-up, before ray is imported (it imports nothing heavy); calling it again with the
    other choice switches back. Sets the driver's environment variables and Python warning filters; the log
    levels and worker output follow when Ray starts (connect() in arena.plugins.ray_session), or at once if ray
    is already imported.
    """
    global _verbose
    _verbose = bool(verbose) or _env_verbose()
    ray_token_auth()
    for key, value in DRIVER_ENV.items():
        if not _verbose:
            os.environ.setdefault(key, value)
        elif os.environ.get(key) == value:
            del os.environ[key]
    _warning_filters(not _verbose)
    if "ray" in sys.modules:  # imported already (a test, a program using Arena as a library)
        quiet_ray(_verbose)


def ray_token_auth() -> None:
    """Send this machine's Ray token to the clusters Arena joins: set RAY_AUTH_MODE=token (unless set) where a token
    is at hand. Any Ray started here writes ~/.ray/auth_token, and a cluster started by `ray start` after that has
    token authentication on; Ray's ray.init(address=...) sends the token only under RAY_AUTH_MODE=token, read when
    ray is imported, and otherwise fails with a bare "Failed to connect". A cluster without authentication
    accepts the token, and a local Ray turns token authentication on anyway."""
    if "RAY_AUTH_MODE" in os.environ or "ray" in sys.modules:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"


def _warning_filters(on: bool) -> None:
    for f in _filters:
        if f in warnings.filters:
            warnings.filters.remove(f)
    _filters.clear()
    if not on:
        return
    before = list(warnings.filters)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        # module ".*": not equal to Python's own default filters, which adding an equal one would move
        warnings.filterwarnings("ignore", category=category, module=".*")
    warnings.filterwarnings("ignore", module=r"(%s)(\.|$)" % "|".join(NOISY_MODULES))
    _filters.extend(f for f in warnings.filters if f not in before)


def ray_init_options(verbose: bool | None = None) -> dict[str, Any]:
    """Keyword arguments for ray.init: the `ray` logger's level, whether workers' output is shown, no dashboard."""
    verbose = is_verbose() if verbose is None else verbose
    return {"logging_level": logging.INFO if verbose else logging.ERROR, "log_to_driver": verbose,
            "include_dashboard": False}


def worker_env(verbose: bool | None = None) -> dict[str, str]:
    """Environment variables for Ray's worker processes (runtime_env env_vars): quieting ones unless verbose."""
    verbose = is_verbose() if verbose is None else verbose
    return {} if verbose else dict(WORKER_ENV)


def quiet_ray(verbose: bool | None = None) -> None:
    """Apply the choice to Ray's loggers in this process; connect() calls it around ray.init.

    Quiet: the handlers of `ray` and `ray.rllib`, and any added to them later (RLlib adds its own when it is
    first imported), pass ERROR and above only; the `ray.rllib` level is ERROR until RLlib sets it back when an
    algorithm is built (its notices before that come at WARNING through loggers the handlers would let pass);
    RLlib's recovery notices are not shown. Verbose: Ray's defaults. Touches only `logging` objects.
    """
    verbose = is_verbose() if verbose is None else verbose
    floor = logging.NOTSET if verbose else logging.ERROR
    for name in RAY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            handler.setLevel(floor)
        if verbose:
            logger.__dict__.pop("addHandler", None)
        else:
            logger.addHandler = _adding_with_floor(logger, floor)  # type: ignore[method-assign]
    logging.getLogger("ray.rllib").setLevel(logging.WARNING if verbose else logging.ERROR)
    for name in RECOVERY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.CRITICAL)


def _adding_with_floor(logger: logging.Logger, floor: int) -> Any:
    """`logger.addHandler` that sets the floor on the handler first (for a handler a library adds later)."""
    def add(handler: logging.Handler) -> None:
        handler.setLevel(max(handler.level, floor))
        logging.Logger.addHandler(logger, handler)

    return add
