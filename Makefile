# Two commands on a fresh machine: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYPROJECTS := tap-oracle-wms/pyproject.toml target-gruponos-oracle/pyproject.toml orchestration/pyproject.toml

.PHONY: install test lint bench demo screenshot clean

$(STAMP): $(PYPROJECTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e './tap-oracle-wms[test]' -e './target-gruponos-oracle[test,postgres]' -e './orchestration[test]'
	touch $(STAMP)

install: $(STAMP)

# Meltano in its own venv: its dependencies conflict with the plugins' (used by tests/test_meltano.py).
MELTANO := .venv-meltano/bin/meltano
$(MELTANO):
	$(PYTHON) -m venv .venv-meltano
	.venv-meltano/bin/python -m pip install -q 'meltano>=4.0,<5'

test: install $(MELTANO)
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) benchmarks/tap_extract.py
	$(PY) benchmarks/target_load.py

demo: install
	$(PY) -m gruponos_meltano_native.demo

# The README's picture of the report: the demo's runs, drawn by headless Chromium.
screenshot: demo
	$(PY) -m gruponos_meltano_native.screenshot demo-output/report.html orchestration/docs/report.png

clean:
	rm -rf $(VENV)
