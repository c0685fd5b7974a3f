# The two commands a new user runs: `make demo` and `make test`.
# Both create .venv with the system python3 (3.11+) and install pinned versions
# from constraints.txt, so a fresh machine needs only Python and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean demo-cluster

PLUGINS := $(wildcard plugins/*/pyproject.toml)

$(STAMP): pyproject.toml constraints.txt $(PLUGINS)
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "gait-runtime needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[all,test]' \
		-e plugins/gait-adapters -e 'plugins/gait-openai-agents[agents]' -e 'plugins/gait-langchain[langchain]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gait demo
	$(BIN)/gait verify run_demo
	$(BIN)/gait demo swarm
	$(BIN)/gait demo mcp

# Not part of `make demo`: 3 nats-server nodes + two supervisors on loopback, one killed
# mid-run; every session continues on the other, gap-free, chains verified (docs/cluster.md).
demo-cluster: $(STAMP)
	$(BIN)/python -m gait_runtime.cluster.demo

lint: $(STAMP)
	$(BIN)/ruff check gait_runtime tests soak plugins examples
	$(BIN)/ruff format --check gait_runtime tests soak plugins examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict gait_runtime tests

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m pytest -q tests/bench --benchmark-enable

clean:
	rm -rf $(VENV) gait-out .mypy_cache .ruff_cache .pytest_cache
