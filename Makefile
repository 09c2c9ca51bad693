# Arena set-up and jobs. `make run` sets up and plays the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.arena-installed

.PHONY: setup chromium run test test-fast test-cluster bench clean

# One virtual environment with Arena installed editable, training (ray, CPU torch) and the test tools.
# torch==2.13.0 comes first: on these machines it is a CPU wheel on disk, and with it installed pip
# never reaches for the multi-GB CUDA builds.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools>=77" wheel
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,test]'
	@touch $@

setup: $(STAMP)

# The web tests drive Debian's chromium with Playwright (no browser download works here): installed once, as root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The main job: the Connect Four league (a PPO main against random, the heuristic, MCTS and its own
# snapshots, about 10 minutes on 2 cores), then its leaderboard. --resume makes a rerun continue (or,
# once a stop rule has fired, just show) the league already in arena.db.
run: setup
	$(BIN)/arena league run leagues/connect_four.toml --resume --db arena.db
	$(BIN)/arena leaderboard --league connect_four --db arena.db

test: setup chromium
	$(BIN)/pytest

# The inner loop (under 90 s on 2 cores): every test but those that start Ray or run long, such as package builds
# and kill -9 runs. tests/conftest.py sets the markers; `make test` runs everything.
test-fast: setup chromium
	$(BIN)/pytest -q -m "not ray and not slow"

# Match play on a real two-node Ray cluster started on this machine (arena.testing.cluster), the second node killed
# mid-run: about 40 s on 2 cores. `make test` runs these too.
test-cluster: setup
	$(BIN)/pytest -q tests/test_cluster.py

bench: setup
	$(BIN)/python benchmarks/match_throughput.py
	$(BIN)/python benchmarks/ratings_store.py
	$(BIN)/python benchmarks/parallel_matches.py
	$(BIN)/python benchmarks/sprt_games.py

clean:
	rm -rf $(VENV) build dist *.egg-info
