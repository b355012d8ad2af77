# Billing Office: the one-command loop (STYLE.md rule 13). CI runs `make test` too.
# Needs only Python 3.11+ and PyPI; everything else is installed into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB := data/billing.db
# `make run` seeds the default SQLite file only; a configured database is left alone.
RUN_DB := $(if $(BILLING_DATABASE_URL),,$(DB))

.DEFAULT_GOAL := help
.PHONY: help run test lint clean screenshots loadtest bench

help:
	@echo "make run    start the app on http://127.0.0.1:8501 (demo data on first run)"
	@echo "make test   ruff, then the whole test suite"
	@echo "make lint   ruff and mypy"
	@echo "make clean  remove the virtualenv and caches (keeps data/)"
	@echo "make screenshots  redraw docs/screenshots/*.png (needs Debian's chromium)"
	@echo "make loadtest  25 and 50 simulated clerks for 60 s on SQLite and PostgreSQL"
	@echo "make bench  time the heavy paths at 10k-1M invoices, write BENCHMARKS.md (15-40 min)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps: pip runs again only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

# Built once; a failed seed leaves no half-filled file behind to be mistaken for done.
$(DB): | $(VENV)/.installed
	mkdir -p $(dir $@)
	export BILLING_DATABASE_URL=sqlite:///$(DB); \
	$(BIN)/billing init-db && $(BIN)/billing seed-demo \
	|| { rm -f $@ $@-wal $@-shm; exit 1; }

# Demo mode (the demo logins and a random per-process cookie key are allowed, ui/auth.py)
# only on the sample database `make run` seeds: never when BILLING_DATABASE_URL names a ledger.
run: $(VENV)/.installed $(RUN_DB)
	$(if $(BILLING_DATABASE_URL),,BILLING_DEMO=1 )$(BIN)/streamlit run app.py \
		--server.address 127.0.0.1 --server.port 8501 --server.headless true

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 -m "not load"
	@# The load test times the server's reruns, so it runs alone, after the rest.
	$(BIN)/pytest -m load

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

screenshots: $(VENV)/.installed-dev
	$(BIN)/python docs/screenshots.py

# The figures RELIABILITY.md quotes. PostgreSQL from BILLING_TEST_POSTGRES_URL (each run
# seeds a fresh schema there); without it, SQLite only.
loadtest: $(VENV)/.installed-dev
	$(if $(BILLING_TEST_POSTGRES_URL),,@echo "BILLING_TEST_POSTGRES_URL is not set: SQLite only")
	$(BIN)/python -m tests.load.load_test --clerks 25 --clerks 50 --interval 5 --duration 60 \
		--backend sqlite $(if $(BILLING_TEST_POSTGRES_URL),--backend postgres)

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-dev

# Not part of `make test`: seeds 10k, 100k and 1M invoices (BENCH_SIZES=10000,100000 for a
# quick run), on PostgreSQL too when BENCH_POSTGRES_URL or BILLING_TEST_POSTGRES_URL answers
# (database billing_bench is dropped and created there), and rewrites BENCHMARKS.md.
BENCH_SIZES ?= 10000,100000,1000000
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench --sizes $(BENCH_SIZES)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
