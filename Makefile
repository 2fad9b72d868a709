# GenShare — one-command set-up. `make lab` (main job) and `make test` (whole suite) create
# the virtual environment .venv from the pinned lock when it is missing or out of date.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.genshare-installed
MIRROR ?= $(abspath ../shared/data)
PYTEST_ARGS ?=
LAB_ARGS ?=
APP_ARGS ?=

.PHONY: env cohorts lab app test test-fast bench docs lint lock clean-cache help

help:
	@echo "make lab    set up, build the embedded cohorts, start JupyterLab on notebooks/"
	@echo "make app    set up, build the embedded cohorts, serve the explorer web page (Voila)"
	@echo "make test   set up and run the whole test suite (real data from $(MIRROR))"
	@echo "make bench  side-by-side timings vs PLINK 2, vcf2zarr, scikit-allel (minutes)"
	@echo "make docs   run the curated notebooks (quick) and render them to docs/notebooks/*.html"
	@echo "make lint   ruff check, format check, mypy"
	@echo "make lock   re-pin environments/requirements.lock from pyproject.toml"

$(STAMP): pyproject.toml environments/requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r environments/requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . \
	  || $(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

env: $(STAMP)

cohorts: env
	GENSHARE_PROGRESS=1 $(BIN)/genshare prepare sim-ooa
	GENSHARE_PROGRESS=1 $(BIN)/genshare prepare sim-admix

lab: cohorts
	$(BIN)/genshare lab $(LAB_ARGS)

app: cohorts
	$(BIN)/genshare app $(APP_ARGS)

# Two pytest workers (pytest-xdist), one test module per worker at a time (module fixtures
# stay shared); each worker has its own cache and state folders. The 20 slowest tests are listed.
PYTEST_WORKERS ?= 2
test: env
	GENSHARE_MIRROR="$${GENSHARE_MIRROR:-$(MIRROR)}" $(BIN)/python -m pytest \
	  -n $(PYTEST_WORKERS) --dist loadfile --durations=20 $(PYTEST_ARGS)

test-fast: env
	GENSHARE_MIRROR="$${GENSHARE_MIRROR:-$(MIRROR)}" $(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

bench: env
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# The curated notebooks, executed (papermill, quick=True, on the embedded and mirrored data)
# and rendered to self-contained HTML in docs/notebooks/ (git-ignored; outputs stay out of git).
DOCS_OUT ?= docs/notebooks
docs: cohorts
	GENSHARE_MIRROR="$${GENSHARE_MIRROR:-$(MIRROR)}" $(BIN)/python docs/render_notebooks.py $(DOCS_OUT)

lint: env
	$(BIN)/ruff check genshare_widgets tests
	$(BIN)/ruff format --check genshare_widgets tests
	$(BIN)/mypy

# Re-resolve the pins in a throw-away environment (needs the package registry).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet ".[dev]"
	.lock-venv/bin/pip freeze --exclude genshare_widgets --exclude pip > environments/requirements.lock
	rm -rf .lock-venv

clean-cache:
	rm -rf "$${GENSHARE_CACHE:-$$HOME/.cache/genshare}"
