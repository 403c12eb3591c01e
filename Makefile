# Two commands do all the set-up on a fresh machine:
#   make demo   builds .venv, installs the package, builds a demo cache and runs the nightly job
#   make test   builds/updates the same .venv and runs the test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
PYTEST_ARGS ?=

.PHONY: demo test test-slow test-yarn bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

# Reinstall only when the package metadata changes (an editable install
# picks up source edits by itself).
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/forecasting cache build --synthetic --regions 12 --days 180 --seed 0 --out $(DEMO)/cache.sqlite
	$(BIN)/forecasting run --cache $(DEMO)/cache.sqlite --out $(DEMO)/results --cluster local
	@echo "Results: $(DEMO)/results/runs/ (forecasts.csv, failures.csv, run.json) and $(DEMO)/results/results.sqlite"

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(VENV)/.installed
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

# Against Hadoop's real YARN and HDFS: starts tests/yarn/minicluster (needs Java 17 and Maven).
test-yarn: $(VENV)/.installed
	$(BIN)/python -m pytest -m yarn $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python -m bench nightly

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache build *.egg-info tests/yarn/minicluster/target
