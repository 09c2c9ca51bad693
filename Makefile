# Arena set-up and jobs. `make run` sets up and plays the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.arena-installed

.PHONY: setup run test bench clean

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

# The main job: a head-to-head Connect Four match, MCTS against the hand-written heuristic,
# stored and rated in arena.db, then the leaderboard.
run: setup
	$(BIN)/arena match openspiel/connect_four mcts:simulations=200 connect_four_heuristic --games 40 --seed 1 --db arena.db
	$(BIN)/arena leaderboard --db arena.db

test: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python benchmarks/match_throughput.py
	$(BIN)/python benchmarks/ratings_store.py

clean:
	rm -rf $(VENV) build dist *.egg-info
