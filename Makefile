# depth3d: `make demo` runs the main job on the bundled sample; `make test` runs the test suite.
# Both first run scripts/install.sh (system libraries, Python packages, compiled kernels).
PYTHON ?= python3
export PYTHON

.PHONY: setup demo test bench

setup:
	bash scripts/install.sh

demo: setup
	$(PYTHON) -m depth3d demo

test: setup
	$(PYTHON) -m pytest -q -p no:cacheprovider tests

bench: setup
	$(PYTHON) benchmarks/run_all.py
