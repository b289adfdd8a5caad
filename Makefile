# Every target does its own set-up (idempotent; a ready machine installs nothing).
PY := .venv/bin/python
export PYTHONHASHSEED := 0

.PHONY: setup demo test lint bench clean-cache

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m susurrus.cli.demo

test: setup
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check src tests benchmarks

bench: setup
	$(PY) benchmarks/transcribe_baseline.py
