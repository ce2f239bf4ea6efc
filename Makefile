# apopsim developer commands. Both targets work on a fresh machine with Python 3.11 and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
OUT    ?= results/apg2575_hht

.PHONY: demo test lint bench figures check sbml-conformance clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

## demo: set up and run the flagship scenario (lisaftoclax + HHT in MCL-1-dependent AML)
demo: $(VENV)/.installed
	$(BIN)/apopsim run scenarios/apg2575_hht.yaml -o $(OUT)
	@echo "Results are in $(OUT)/ (summary.csv, timecourse.csv, plots/, run.json)"

## test: set up with test extras and run the test suite and the notebooks (both cores)
test: $(VENV)/.installed-test
	APOPSIM_FAST=1 MPLBACKEND=Agg $(BIN)/python -m pytest -n 2 -q tests --nbmake notebooks

lint: $(VENV)/.installed-test
	$(BIN)/ruff check sim tests benchmarks

## check: run every claim (scenarios/, panels/, invivo/) in the fast setting and print the table
check: $(VENV)/.installed
	$(BIN)/apopsim check --fast -o results/check_fast --overwrite; test $$? -le 1

## figures: run every claim at full size and redraw each study's headline figure (docs/figures/)
figures: $(VENV)/.installed
	$(BIN)/apopsim check --figures docs/figures -o results/check --overwrite; test $$? -le 1

## sbml-conformance: SBML Test Suite semantic time courses, apopsim vs libRoadRunner. Default: the
## 87 vendored cases; SBML_TEST_SUITE=<checkout of sbmlteam/sbml-test-suite> runs all of them.
SBML_TEST_SUITE ?=
sbml-conformance: $(VENV)/.installed-test
	$(BIN)/python benchmarks/sbml_conformance.py \
	    $(if $(SBML_TEST_SUITE),$(SBML_TEST_SUITE)/cases/semantic,tests/data/sbml_test_suite/cases.tar.xz) \
	    --out results/sbml_conformance.csv

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_population.py

clean:
	rm -rf $(VENV) results .pytest_cache
