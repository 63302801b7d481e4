# Two commands for a new user: `make demo` and `make test`. Everything else is a helper target.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo demo-celery ui test test-fast lint venv bench clean

# The pinned tree from requirements.txt, then the project itself (editable: the package from
# plugins/, and the repository root for the stand-in, demo and benchmarks that stay out of the wheel).
$(STAMP): requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## make demo: PKI, stand-in SPOR, synthetic OPS database, one spor_nightly run, summary (all under .demo/)
demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/demo.py

## make demo-celery: the same night on CeleryExecutor (Redis, PostgreSQL, scheduler, two workers; see docs/deployment.md)
demo-celery: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/demo_celery.py

## make ui: the stand-in and `airflow standalone` on .demo/ (make demo first if needed); Ctrl-C stops both;
## options through UI_ARGS, e.g. make ui UI_ARGS="--api-port 8081 --standin-port 8444"
ui: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/ui.py $(UI_ARGS)

## make test: the whole test suite
test: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -rs -n 2 --dist loadgroup -p no:cacheprovider tests

## make test-fast: what needs no Airflow run, browser, build or database server (the tiers: pyproject.toml)
FAST := not e2e and not browser and not packaging and not needs_postgres and not needs_mariadb and not needs_redis and not slow
test-fast: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -rs -n 2 --dist loadgroup -p no:cacheprovider -m "$(FAST)" tests

## make lint: ruff over every Python file of the repository, mypy over the package (settings in pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --config-file pyproject.toml

## make bench: benchmarks (not run by the tests); numbers in docs/performance.md
bench: $(STAMP)
	$(PY) bench/bench_build.py
	$(PY) bench/bench_send.py -n 800 -c 8
	$(PY) bench/bench_gate.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/bench_nightly.py --treatments 20000
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/bench_backfill_priority.py --backfill 20000 --nightly 2000

clean:
	rm -rf .demo
