# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: venv demo test test-fast bench agents sysdeps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

## The demo town, end to end (its state lives in a temporary GT_HOME unless you set one).
demo: venv
	$(PY) examples/demo.py

## The whole test suite (installs podman & co. and the pinned agent CLIs into .cache/agents first);
## the container tests and the rest run side by side (scripts/run-tests.sh).
test: venv sysdeps agents
	PY=$(PY) scripts/run-tests.sh $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -q -m "not slow and not agentcli and not podman" $(PYTEST_ARGS)

agents:
	scripts/install-agents.sh

sysdeps:
	@scripts/install-system-deps.sh || echo "make: could not install system packages; container tests will skip" >&2

bench: venv
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache
