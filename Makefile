# rengo: two commands do all the set-up on a fresh machine.
#   make demo   create .venv, install rengo, run the showcase on bundled data
#   make test   the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint install proto bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[torch,ray,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rengo demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --timeout=300 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

proto: $(STAMP)
	cd src/rengo/core/proto && ../../../../$(BIN)/python -m grpc_tools.protoc -I. \
		--python_out=. --pyi_out=. envelope.proto

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
