"""Quiet by default: Ray's, RLlib's and their libraries' own notices stay off a user's terminal unless asked for.

Arena's own output (progress lines, results, its one-line errors) never goes through these channels, so it is
never hidden. What is hidden, and where it comes from (Ray 2.x):

- log records of the `ray` logger tree below ERROR, e.g. "Token authentication is enabled ...", "Started a local
  Ray instance.", RLlib's "You are running PPO on the new API stack!", `DeprecationWarning: ...` (ray._common
  .deprecation), "Install gputil for GPU system monitoring." (ray.tune); Ray puts its own handler on the `ray`
  logger and RLlib resets the `ray.rllib` level when an algorithm is built, so the level is set on that handler;
- RLlib's notices about EnvRunners it restarts ("Ray error (...), taking actor N out of service", "Bringing
  previously unhealthy ... back into service"): fault tolerance doing its job, logged at ERROR;
- the output of Ray's worker processes (log_to_driver=False); it stays in Ray's session logs;
- Python warnings (deprecations, future changes, and any warning raised inside ray, gymnasium, torch, ...).

A Ray failure Arena cares about still reaches the user: it arrives as an exception, which Arena reports.
`quiet(verbose)` is called once at CLI start-up; `connect` in arena.plugins.ray_session reads the choice back.
Nothing here imports ray or torch.
"""
from __future__ import annotations

import logging
import os
import warnings

VERBOSE_ENV_VAR = "ARENA_VERBOSE"  # "1": as if -v were given (also for programs that use Arena as a library)

# Libraries whose warnings are theirs to fix, not the user's: ignored in quiet mode, whatever their category.
NOISY_MODULES = ("ray", "gymnasium", "gym", "torch", "pettingzoo", "pyspiel", "tree", "pygame", "tensorboardX")
# Loggers (under `ray`) whose records are hidden in quiet mode even at ERROR: notices about recoveries that
# RLlib makes on its own, e.g. an EnvRunner restarted after its process died.
RECOVERY_LOGGERS = ("ray.rllib.utils.actor_manager",)
# Environment of Ray's worker processes in quiet mode (runtime_env env_vars): their own Python warnings off.
WORKER_ENV = {"PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::PendingDeprecationWarning,ignore::FutureWarning"}

_verbose: bool | None = None  # the choice made by quiet(); None until it is called


def _env_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no", "off")


def is_verbose() -> bool:
    """Whether Ray's and RLlib's own output should be shown: quiet()'s choice, else $ARENA_VERBOSE."""
    return _verbose if _verbose is not None else _env_verbose()


def quiet(verbose: bool = False) -> None:
    """Hide Ray's, RLlib's and their libraries' notices in this process unless `verbose` (or $ARENA_VERBOSE=1).

    Called once at CLI start-up, before ray is imported (it imports nothing heavy). Calling it again with the
    other choice switches back. The Ray side (log levels, worker output) is applied by connect() and by
    quiet_ray(), because Ray resets its loggers when it is imported.
    """
    global _verbose
    _verbose = bool(verbose) or _env_verbose()
    _warning_filters(not _verbose)
    import sys

    if "ray" in sys.modules:  # already imported (a library user, a test): apply the log levels now
        quiet_ray(_verbose)


_FILTERS: list[tuple] = []  # the warnings filters quiet() added, so that quiet(True) can take them out again


def _warning_filters(on: bool) -> None:
    for f in _FILTERS:
        if f in warnings.filters:
            warnings.filters.remove(f)
    _FILTERS.clear()
    if not on:
        return
    before = list(warnings.filters)
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", module=r"(%s)(\.|$)" % "|".join(NOISY_MODULES))
    _FILTERS.extend(f for f in warnings.filters if f not in before)


def ray_init_options(verbose: bool | None = None) -> dict:
    """Keyword arguments for ray.init: log level of the `ray` logger, and whether workers' output is shown."""
    verbose = is_verbose() if verbose is None else verbose
    return {"logging_level": logging.INFO if verbose else logging.ERROR, "log_to_driver": verbose,
            "include_dashboard": False}


def worker_env(verbose: bool | None = None) -> dict[str, str]:
    """Environment variables for Ray's worker processes (runtime_env env_vars): quieting ones unless verbose."""
    verbose = is_verbose() if verbose is None else verbose
    return {} if verbose else dict(WORKER_ENV)


def quiet_ray(verbose: bool | None = None) -> None:
    """Apply the choice to Ray's loggers in this process; call it after `import ray` (connect() does).

    Quiet: Ray's own handler shows ERROR and above only, and RLlib's recovery notices not at all. Verbose:
    Ray's defaults. Imports nothing: it only touches the `logging` objects Ray created.
    """
    verbose = is_verbose() if verbose is None else verbose
    ray_logger = logging.getLogger("ray")
    for handler in ray_logger.handlers:
        handler.setLevel(logging.NOTSET if verbose else logging.ERROR)
    for name in RECOVERY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.CRITICAL)
    if verbose and ray_logger.level > logging.INFO:
        ray_logger.setLevel(logging.INFO)
