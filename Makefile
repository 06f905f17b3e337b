# rengo: two commands do all the set-up on a fresh machine.
#   make demo   create .venv, install rengo, run the showcase on bundled data
#   make test   the same set-up, then the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint install proto bench clean browser

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[torch,ray,ui,mlflow,tensorboard,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rengo demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 --timeout=300 $(PYTEST_ARGS)

# The dashboard's browser tests drive Debian's Chromium (never a downloaded one). Install it
# where we can (root with apt, ~1 min); elsewhere those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the dashboard's browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
		|| echo "could not install chromium: the browser tests will be skipped"; \
	else echo "no chromium (and no root apt to install it): the browser tests will be skipped"; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

proto: $(STAMP)
	cd src/rengo/core/proto && ../../../../$(BIN)/python -m grpc_tools.protoc -I. \
		--python_out=. --pyi_out=. envelope.proto

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
