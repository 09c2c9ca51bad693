"""Markers for the fast loop, assigned here so that test files need no edits.

`make test` runs everything. `make test-fast` runs `-m "not ray and not slow"`:

- `ray`: the test starts Ray, in this process or in an `arena` command it runs (training, leagues, Ray workers).
  A test gets it when its module imports Ray at top level, when its own code or one of its fixtures starts or
  imports Ray or a plugin module built on it (RAY_SOURCE), or when it is listed in RAY_TESTS (subprocess leagues
  and training, which start Ray in a child process where no source scan can see it).
- `slow`: long without Ray: building and installing packages, or many games. Modules say so themselves
  (`pytestmark = pytest.mark.slow`) or are listed in SLOW_TESTS.

Everything else is fast by default, so a new test file needs no entry here unless it starts Ray in a child process
or runs long. Two checks keep the lists honest in a fast run: a test that leaves Ray initialized without the `ray`
marker fails, and tests that took longer than FAST_LIMIT_S are named at the end with a hint to list them here.
"""
from __future__ import annotations

import functools
import inspect
import re
import sys
import textwrap
from pathlib import Path

import pytest

# Tests that start Ray in a child process (an `arena league run` or `arena train` subprocess): module name, or
# "module::test function" for one test of a module whose other tests are fast.
RAY_TESTS = {
    "test_rllib",  # RLlib itself: every test imports it, most start a local Ray
    "test_league::test_kill_9_mid_league_then_resume_loses_and_double_counts_nothing",
    "test_league::test_ctrl_c_stops_after_the_round_and_status_tells_where_it_stands",
    "test_signals::test_sigterm_stops_a_league_after_storing_its_finished_rounds",
    "test_signals::test_sigterm_stops_training_and_keeps_a_rated_snapshot",
    "test_signals::test_processes_a_league_killed_with_sigkill_left_running_are_stopped_by_status_then_it_resumes",
    "test_soak::test_kill_9_soak_a_league_finishes_with_every_round_and_game_once",  # also slow (the module)
}
# Long tests without Ray (in addition to modules that mark themselves slow): kill -9 and resume, several processes
# writing one store, the same games on one and two workers, a full tournament, runs that install a package. Each
# takes 2-30 s on 2 cores; together they would double the fast loop.
SLOW_TESTS = {
    # 80 games of a five-player round-robin up to MCTS with 400 simulations: about a minute on 2 busy cores
    "test_openings::test_a_tournament_with_openings_ranks_players_of_known_strength_in_order",
    # every test plays rated matches through `arena` subprocesses (28 games, ~20 CLI starts: a quarter of the fast
    # loop); the store's queries and writes are tested in-process by test_store and test_store_migrations
    "test_cli_store",
    "test_tournament::test_a_tournament_killed_halfway_resumes_without_losing_or_repeating_a_game",
    "test_tournament::test_round_robin_ranks_by_strength_and_reports_consistent_tables",
    "test_parallel::test_a_killed_worker_loses_nothing_its_games_are_played_again",
    "test_parallel::test_without_retries_only_the_killed_workers_games_become_errors",
    "test_parallel::test_match_cli_gives_the_same_json_and_store_on_one_and_two_workers",
    "test_parallel::test_snapshot_games_are_the_same_on_one_or_two_workers",
    "test_parallel::test_sprt_stops_a_match_as_soon_as_it_decides",
    "test_store::test_four_processes_writing_one_store_lose_no_row",
    "test_store::test_kill_9_mid_run_leaves_no_match_without_its_rating_update",
    "test_learner_contract::test_an_installed_algorithm_plugin_trains_with_arena_train_and_in_a_league",
    "test_learner_contract::test_evaluation_on_two_workers_stores_the_same_games_as_on_one",
    "test_learner_contract::test_the_evaluation_schedule_connects_copies_fixed_players_and_the_top_of_the_pool",
    "test_learner_contract::test_the_minimal_algorithm_in_the_plugin_docs_installs_and_trains",
    # five `arena` commands (export, info, three refusals): ~8 s
    "test_dataset::test_the_cli_exports_and_refuses_bad_input_in_one_line_before_ray",
    # the bad-input corpus as real `arena` processes (16 starts, some importing RLlib's configs): ~35 s; every case
    # also runs in-process in the fast loop (test_bad_input_in_process, ~11 s for all of them)
    "test_corpus::test_bad_input_in_a_real_arena_process",
    # SIGTERM and SIGINT to real `arena match` and `arena tournament` processes, and a resume: ~30 s for the four
    "test_signals::test_a_signal_stops_a_match_and_keeps_every_game_played",
    "test_signals::test_a_signal_stops_a_tournament_which_resumes_from_there",
}

# Ray in the test's own source or in a fixture it uses: Ray started or imported, Ray workers asked for, or one of the
# plugin modules that import Ray (ray_session.connect, ray_workers, the rllib_* modules).
RAY_SOURCE = re.compile(r"\bray\.init\(|\bray_address\s*=|^\s*(import ray\b|from ray\b)|importorskip\(\s*[\"']ray"
                        r"|\bray_session\b|\bray_workers\b|\brllib_\w+", re.MULTILINE)
FAST_LIMIT_S = 5.0  # a test slower than this in a fast run is named at the end
TESTS = Path(__file__).resolve().parent


def _source(obj) -> str:
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return ""


def _in_tests(func) -> bool:
    try:
        return Path(inspect.getsourcefile(func) or "").resolve().is_relative_to(TESTS)
    except TypeError:
        return False


@functools.cache
def _module_imports_ray(module) -> bool:
    """Top-level (unindented) lines only: a Ray import inside one test marks that test, not its module."""
    return any(RAY_SOURCE.search(line) for line in _source(module).splitlines() if line and not line[0].isspace())


def _uses_ray(item: pytest.Function) -> bool:
    if _module_imports_ray(item.module) or RAY_SOURCE.search(_source(item.function)):
        return True
    for defs in item._fixtureinfo.name2fixturedefs.values():
        if any(_in_tests(d.func) and RAY_SOURCE.search(_source(d.func)) for d in defs):  # not pytest's own fixtures
            return True
    return False


def _listed(item: pytest.Function, names: set[str], seen: set[str]) -> bool:
    module = item.module.__name__.rpartition(".")[2]
    hits = {module, f"{module}::{item.originalname}"} & names
    seen.update(hits)
    return bool(hits)


_stale: list[str] = []


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seen: set[str] = set()
    modules = set()
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        modules.add(item.module.__name__.rpartition(".")[2])
        if _listed(item, RAY_TESTS, seen) or _uses_ray(item):
            item.add_marker(pytest.mark.ray)
        if _listed(item, SLOW_TESTS, seen):
            item.add_marker(pytest.mark.slow)
    # a listed test that was renamed would silently turn fast: name it
    _stale.extend(sorted(n for n in RAY_TESTS | SLOW_TESTS if n.partition("::")[0] in modules and n not in seen))


def _fast_run(config: pytest.Config) -> bool:
    return "not ray" in (config.getoption("markexpr") or "")


@pytest.fixture(autouse=True)
def _ray_needs_its_marker(request: pytest.FixtureRequest):
    """In a fast run, a test that leaves Ray running was not marked `ray`: fail it and say where to mark it."""
    yield
    if not _fast_run(request.config) or request.node.get_closest_marker("ray"):
        return
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        ray.shutdown()
        pytest.fail(f"{request.node.nodeid} started Ray but has no `ray` marker: add it to RAY_TESTS in "
                    "tests/conftest.py", pytrace=False)


_slow_in_fast_run: list[tuple[str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when in ("setup", "call") and report.duration > FAST_LIMIT_S:
        _slow_in_fast_run.append((f"{report.nodeid} ({report.when})", report.duration))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if _stale:
        terminalreporter.section("tests/conftest.py lists tests that were not collected")
        for name in _stale:
            terminalreporter.write_line(f"{name}: renamed or removed? Its marker no longer applies")
    if _fast_run(config) and _slow_in_fast_run:
        terminalreporter.section("slow tests in the fast loop")
        for nodeid, seconds in sorted(_slow_in_fast_run, key=lambda x: -x[1]):
            terminalreporter.write_line(f"{seconds:6.1f}s {nodeid}: list it in SLOW_TESTS or RAY_TESTS in "
                                        "tests/conftest.py")
