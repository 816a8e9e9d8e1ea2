# The README's two commands: `make demo` (the main job) and `make test` (the whole test suite).
# Both create and fill the virtual environment themselves on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: demo test lint format test-tf test-jax test-large table dummy-data clean swiftshader browser

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m kerasfer demo --output runs/demo

test: $(STAMP)
	-$(MAKE) swiftshader
	-$(MAKE) browser
	$(MAKE) lint test-tf test-jax

# A CPU Vulkan driver for the GPU-accelerator runtime tests (they skip, with the reason, when it is missing).
swiftshader:
	bash tools/fetch_swiftshader.sh

# Headless Chromium and LiteRT.js (npm) for the web-export tests (they skip, with the reason, when these are missing).
browser: $(STAMP)
	bash tools/fetch_browser.sh $(PY)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test-tf: $(STAMP)
	KERAS_BACKEND=tensorflow $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

test-jax: $(STAMP)
	KERAS_BACKEND=jax $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q -m "multibackend"

test-large: $(STAMP)
	$(PY) -m pytest -q --run-large -m large

table: $(STAMP)
	$(PY) tools/make_model_table.py --write README.md

dummy-data: $(STAMP)
	$(PY) tools/make_dummy_data.py

clean:
	rm -rf $(VENV) runs .pytest_cache
