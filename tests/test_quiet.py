"""Quiet by default: Ray's and RLlib's own notices stay off the terminal unless -v is given; Arena's lines stay."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from arena import logs

# A line that Ray, RLlib or a library printed, not Arena: Ray's Python log format, its C++ log format, output
# relayed from Ray's processes ("(raylet) ...", "(MultiAgentEnvRunner pid=12) ..."), a Python warning.
FOREIGN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+[A-Z]+ \S+:\d+ -- "
                     r"|^\[\d{4}-\d\d-\d\d [\d:,]+ [IWEF] \d+ \d+\] "
                     r"|^(\x1b\[\d+m)?\((raylet|\w+ pid=\d+)\)"
                     r"|\b\w*Warning: ")


@pytest.fixture
def restore():
    """Whatever quiet() changes in this process: its choice, the environment, warnings filters, Ray's loggers."""
    env = dict(os.environ)
    filters = list(warnings.filters)
    yield
    logs.quiet_ray(verbose=True)  # Ray's defaults, should Ray run later in this process
    logs._verbose = None
    os.environ.clear()
    os.environ.update(env)
    warnings.filters[:] = filters


def caught(*emit) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        for message, category, module in emit:
            warnings.warn_explicit(message, category, f"{module}.py", 1, module=module)
    return [str(w.message) for w in seen]


def test_quiet_hides_library_warnings_and_verbose_brings_them_back(restore, monkeypatch):
    monkeypatch.delenv(logs.VERBOSE_ENV_VAR, raising=False)
    os.environ.pop("RAY_DEDUP_LOGS_SKIP_REGEX", None)
    emit = [("deprecated", DeprecationWarning, "__main__"), ("future", FutureWarning, "numpy"),
            ("lib", UserWarning, "ray.rllib.core"), ("torch", UserWarning, "torch.nn"),
            ("ours", UserWarning, "arena.plugins.x")]
    logs.quiet(False)
    assert not logs.is_verbose() and caught(*emit) == ["ours"]
    assert os.environ["RAY_DEDUP_LOGS_SKIP_REGEX"] == logs.DRIVER_ENV["RAY_DEDUP_LOGS_SKIP_REGEX"]
    assert logs.ray_init_options() == {"logging_level": logging.ERROR, "log_to_driver": False,
                                       "include_dashboard": False}
    assert "PYTHONWARNINGS" in logs.worker_env()

    logs.quiet(True)  # -v: everything back, Arena's own environment setting taken out
    assert logs.is_verbose() and caught(*emit) == ["deprecated", "future", "lib", "torch", "ours"]
    assert "RAY_DEDUP_LOGS_SKIP_REGEX" not in os.environ
    assert logs.ray_init_options()["log_to_driver"] and logs.worker_env() == {}

    os.environ["RAY_DEDUP_LOGS_SKIP_REGEX"] = "mine"  # a user's own setting is left alone either way
    logs.quiet(False)
    assert os.environ["RAY_DEDUP_LOGS_SKIP_REGEX"] == "mine"
    logs.quiet(True)
    assert os.environ["RAY_DEDUP_LOGS_SKIP_REGEX"] == "mine"

    monkeypatch.setenv(logs.VERBOSE_ENV_VAR, "1")  # $ARENA_VERBOSE=1 is -v
    logs.quiet(False)
    assert logs.is_verbose()


def test_ray_log_handlers_pass_only_errors_even_one_added_later(restore):
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    rllib = logging.getLogger("ray.rllib")
    handler = Keep()
    logs.quiet_ray(verbose=False)
    rllib.addHandler(handler)  # as RLlib does when it is first imported, after Ray started
    propagate, rllib.propagate = rllib.propagate, False
    try:
        assert handler.level == logging.ERROR
        rllib.setLevel(logging.WARNING)  # as RLlib does when it builds an algorithm
        logging.getLogger("ray.rllib.algorithms.algorithm_config").warning("new API stack")
        logging.getLogger("ray.rllib.utils.actor_manager").error("taking actor 1 out of service")
        logging.getLogger("ray.rllib.core.learner").error("a real error")
        assert records == ["a real error"]
        logs.quiet_ray(verbose=True)
        assert handler.level == logging.NOTSET and "addHandler" not in vars(rllib)
        logging.getLogger("ray.rllib.utils.actor_manager").error("taking actor 1 out of service")
        assert records[-1] == "taking actor 1 out of service"
    finally:
        rllib.removeHandler(handler)
        rllib.propagate = propagate


def _train(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    arena = str(Path(sys.executable).with_name("arena"))
    env = {k: v for k, v in os.environ.items() if k not in (logs.VERBOSE_ENV_VAR, "RAY_DEDUP_LOGS_SKIP_REGEX")}
    env["ARENA_SNAPSHOTS"] = str(tmp_path / "snapshots")
    return subprocess.run([arena, *flags, "train", "openspiel/tic_tac_toe", "--stop-iterations", "1",
                           "--eval-games", "2", "--hidden", "16", "--num-envs-per-env-runner", "2",
                           "--hp", "train_batch_size_per_learner=128", "--hp", "minibatch_size=64",
                           "--hp", "num_epochs=1", "--db", str(tmp_path / "arena.db")],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)


@pytest.mark.ray
def test_arena_train_prints_only_arena_lines_unless_verbose(tmp_path):
    quiet = _train(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    lines = (quiet.stderr + quiet.stdout).splitlines()
    assert [line for line in lines if FOREIGN.search(line)] == []
    assert any(line.startswith("Stopped (iteration limit)") for line in lines)  # Arena's own progress stays

    verbose = _train(tmp_path, "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert "Started a local Ray instance" in verbose.stderr and "new API stack" in verbose.stderr
    assert any(FOREIGN.search(line) for line in verbose.stderr.splitlines())
