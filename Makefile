# Two commands on a fresh machine: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYPROJECTS := tap-oracle-wms/pyproject.toml target-gruponos-oracle/pyproject.toml orchestration/pyproject.toml \
	orchestration-dagster/pyproject.toml testing/pyproject.toml \
	wms-simulator/pyproject.toml

.PHONY: install test lint coverage bench bench-scale demo dagster screenshot clean

$(STAMP): $(PYPROJECTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e './tap-oracle-wms[test]' -e './target-gruponos-oracle[test,postgres]' -e './orchestration[test,demo]' \
	  -e './orchestration-dagster[test]' -e ./testing -e ./wms-simulator
	touch $(STAMP)

install: $(STAMP)

# Meltano in its own venv: its dependencies conflict with the plugins' (used by tests/test_meltano.py).
MELTANO := .venv-meltano/bin/meltano
$(MELTANO):
	$(PYTHON) -m venv .venv-meltano
	.venv-meltano/bin/python -m pip install -q 'meltano>=4.0,<5'

# The tests run only when ruff and mypy find nothing (CI calls `make test`).
test: lint $(MELTANO)
	$(PY) -m pytest

# ruff over the repository; mypy over the three packages (settings in mypy.ini).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Line and branch coverage of the three packages over the whole suite, including the
# processes the end-to-end tests start (.coveragerc: patch = subprocess). HTML in htmlcov/.
# A process a test kills (SIGKILL) leaves an empty data file: dropped after combining.
coverage: install $(MELTANO)
	$(PY) -m coverage erase
	$(PY) -m coverage run -m pytest -q -p no:cacheprovider; status=$$?; \
	$(PY) -m coverage combine -q; rm -f .coverage.*; \
	$(PY) -m coverage report && $(PY) -m coverage html -q \
	&& for part in tap-oracle-wms target-gruponos-oracle orchestration orchestration-dagster wms-simulator; do \
	  printf '%-24s %s %%\n' $$part "$$($(PY) -m coverage report --include="$$part/*" --format=total)"; \
	done && echo "HTML report: htmlcov/index.html"; exit $$status

bench: install
	$(PY) benchmarks/tap_extract.py
	$(PY) benchmarks/resume.py
	$(PY) benchmarks/target_load.py

# 8 facilities through Dagster at scaled live latency, one Celery worker against two
# (needs PostgreSQL and redis-server binaries, like the tests).
bench-scale: install
	$(PY) benchmarks/dagster_scale.py

demo: install
	$(PY) -m gruponos_meltano_native.demo

# The Dagster UI on the demo (simulator + SQLite, both facilities synced once): http://127.0.0.1:3000
dagster: install
	$(PY) -m gruponos_dagster.demo

# The README's picture of the report: the demo's runs, drawn by headless Chromium.
screenshot: demo
	$(PY) -m gruponos_testing.screenshot demo-output/report.html orchestration/docs/report.png

clean:
	rm -rf $(VENV) htmlcov .coverage .coverage.* .mypy_cache
