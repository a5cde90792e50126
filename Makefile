PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean

# `install` always (re)installs; `demo` and `test` only trigger it when .venv is missing.
install:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11+" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[kernels,ray,dev]'

$(BIN)/ctxplan:
	$(MAKE) install

demo: $(BIN)/ctxplan
	$(BIN)/ctxplan compare scenarios/legal-case-files.yaml

test: $(BIN)/ctxplan
	$(BIN)/ruff check simulator api kernels tests benchmarks
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

lint: $(BIN)/ctxplan
	$(BIN)/ruff check simulator api kernels tests benchmarks

bench: $(BIN)/ctxplan
	$(BIN)/python benchmarks/bench_run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
