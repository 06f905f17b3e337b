# rengo: two commands do all the set-up on a fresh machine.
#   make demo   create .venv, install rengo with what the demo needs (PyTorch), run the showcase
#   make test   the same set-up plus what the tests need (Ray, pytest, ...), then the test suite
# Packages are installed with uv (several times faster than pip here; see
# benchmarks/RESULTS.md, "Set-up"), falling back to pip where uv cannot be installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PYTEST_ARGS ?=
# Extras per target: the demo needs PyTorch and the DP accountant; the tests need every optional integration.
DEMO_EXTRAS := torch,privacy
TEST_EXTRAS := torch,ray,ui,mlflow,tensorboard,privacy,opacus,dev
FIND_LINKS  := $(foreach link,$(PIP_FIND_LINKS),--find-links $(link))

.PHONY: demo test lint install proto bench clean browser

$(PY):
	$(PYTHON) -m venv $(VENV)

# Which installer this venv uses: uv when it installs, else pip.
$(VENV)/.installer: | $(PY)
	@if $(PY) -m pip install --quiet --disable-pip-version-check uv >/dev/null 2>&1; \
	then echo uv > $@; else echo pip > $@; fi
	@echo "installer: $$(cat $@)"

# install EXTRAS: editable rengo with those extras, pinned by constraints.txt.
define install
	@if [ "$$(cat $(VENV)/.installer)" = uv ]; then \
		$(BIN)/uv pip install --quiet --python $(PY) $(FIND_LINKS) -c constraints.txt -e '.[$(1)]' \
		|| $(PY) -m pip install --quiet -c constraints.txt -e '.[$(1)]'; \
	else \
		$(PY) -m pip install --quiet -c constraints.txt -e '.[$(1)]'; \
	fi
endef

$(VENV)/.demo-installed: pyproject.toml constraints.txt | $(VENV)/.installer
	$(call install,$(DEMO_EXTRAS))
	touch $@

$(VENV)/.test-installed: pyproject.toml constraints.txt | $(VENV)/.installer
	$(call install,$(TEST_EXTRAS))
	touch $@ $(VENV)/.demo-installed

# Bytecode, compiled once: uv installs none, and where PYTHONDONTWRITEBYTECODE is set (as on
# the CI machine) Python caches none, so every pytest worker and every process a test starts
# compiled each module it imported, torch's included (benchmarks/bytecode_cache.py). Its
# failure is ignored: one of torch's test files is Python 3.12 syntax. The checkout's own
# modules are compiled before each run (only those changed since the last).
$(VENV)/.bytecode: $(VENV)/.test-installed
	-$(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null
	touch $@

install: $(VENV)/.test-installed

demo: $(VENV)/.demo-installed
	$(BIN)/rengo demo

test: $(VENV)/.bytecode browser
	$(PY) -m compileall -q -j 0 src tests >/dev/null
	$(PY) -m pytest -n 2 --timeout=300 $(PYTEST_ARGS)

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

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

proto: $(VENV)/.test-installed
	cd src/rengo/core/proto && ../../../../$(PY) -m grpc_tools.protoc -I. \
		--python_out=. --pyi_out=. envelope.proto

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
