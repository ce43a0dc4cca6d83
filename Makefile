# Two commands on a fresh machine (Python 3.11+ and make present): `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.synced
EXTRAS := --all-extras

.PHONY: run test venv lint typecheck imports unit integration e2e contract reliability chaos soak \
        bench-ingest bench-engine bench-api bench-encode fmt clean

# Debian and Ubuntu ship Python without its venv module; their `-m venv` fails half-way.
VENV_HINT := make: $(PYTHON) -m venv failed. On Debian/Ubuntu: sudo apt-get install python3-venv
PIP_HINT := make: $(VENV) has no pip (a half-made virtualenv?): rm -rf $(VENV) and run make again

# Create or reuse .venv and install exactly what uv.lock pins (re-synced when the lock changes).
# uv is pinned to the version CI and deploy/Dockerfile install.
$(STAMP): pyproject.toml uv.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "$(VENV_HINT)" >&2; exit 1; }
	@test -x $(UV) || $(PY) -m pip --version >/dev/null 2>&1 || { echo "$(PIP_HINT)" >&2; exit 1; }
	@test -x $(UV) || $(PY) -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	@$(UV) sync --frozen --inexact $(EXTRAS) --quiet
	@touch $@

venv: $(STAMP)

$(STAMP)-bench: $(STAMP)
	@$(UV) sync --frozen --inexact $(EXTRAS) --group bench --quiet
	@touch $@

run: $(STAMP)
	@$(VENV)/bin/insight-invest dev

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

imports: $(STAMP)
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy libs/domain

# The full suite: static checks, then unit, integration (PostgreSQL + local SQS), contract,
# end-to-end and the fault scenarios. Heavier variants: make chaos, make soak, make bench-*.
test: $(STAMP) lint imports typecheck
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

# The tier run while editing: in-process, on the fakes, about 30 s on 2 cores. One process: on
# 2 cores, two xdist workers finish no sooner, as each imports and collects everything again.
# The five slowest tests are printed, so one that belongs in a heavier tier shows up.
unit: $(STAMP)
	$(PY) -m pytest -q --durations=5 tests/unit

integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

e2e: $(STAMP)
	$(PY) -m pytest -q tests/e2e

contract: $(STAMP)
	$(PY) -m pytest -q tests/contract

reliability: $(STAMP)
	$(PY) -m pytest -q tests/reliability

# The report's figures are regenerated from the run (docs/reliability.md), pass or fail.
chaos: $(STAMP)
	CHAOS_HEAVY=1 $(PY) -m pytest -q -p no:cacheprovider tests/reliability \
		--junitxml=bench/results/.chaos-junit.xml -o junit_family=xunit1; status=$$?; \
		$(PY) -m bench.reliability_report; exit $$status

soak: $(STAMP)-bench
	$(PY) -m bench.soak

bench-ingest: $(STAMP)-bench
	$(PY) -m bench.ingest

bench-engine: $(STAMP)-bench
	$(PY) -m bench.engine

bench-api: $(STAMP)-bench
	$(PY) -m bench.api

bench-encode: $(STAMP)
	$(PY) -m bench.series_encode

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
