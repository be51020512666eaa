# The two commands: `make demo` and `make test`. Each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: install demo test test-fast lint format bench clean services constraints

install: $(STAMP)

# constraints.txt pins every package to the versions tested together (make constraints rewrites it)
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,postgres,redis,browser,lightgbm,serve]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/python scripts/demo.py

# Starts PostgreSQL/Redis when none answers on their usual ports, then runs every test.
test: install
	eval "$$($(BIN)/python scripts/services.py)" && $(BIN)/python -m pytest -n 2 -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not postgres"

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests bench scripts
	$(BIN)/ruff format src tests bench scripts

bench: install
	$(BIN)/python bench/bench_ingest.py

# Rewrites constraints.txt from the current venv: run after changing dependencies and testing them.
constraints:
	{ sed -n '/^#/p' constraints.txt; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -E '^[A-Za-z0-9._-]+=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

services: install
	$(BIN)/python scripts/services.py

clean:
	rm -rf .segmint $(VENV) .pytest_cache .mypy_cache .ruff_cache
