# Two set-up commands for a fresh machine (see README): `make demo` and `make test`.
# Each creates its own virtual environment and installs the kit with the pins in constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test release validate bench clean-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/autograder demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

release: $(STAMP)
	$(BIN)/autograder release

validate: $(STAMP)
	$(BIN)/autograder validate

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

clean-venv:
	rm -rf $(VENV)
