# CNN Studio: `make run` starts the dashboard, `make test` runs the tests
# (`make test-fast`: the quick ones, for the edit-test loop).
# Both create the virtualenv and install what they need on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
ARGS ?=  # more `streamlit run` options, e.g. ARGS="--server.fileWatcherType auto"
# Use the repo's sibling offline datasets when present (developers' machines).
export CNN_DATA_DIR ?= $(abspath $(wildcard ../shared/data))

.PHONY: run test test-fast lint format bench starter clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.port $(PORT) $(ARGS)

test: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest

# Unit and AppTest tests: no browser, no real trainings or worker processes (the
# `slow` and `browser` markers in pyproject.toml); about two minutes on 2 cores.
test-fast: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow and not browser"

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(VENV)/.dev
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
