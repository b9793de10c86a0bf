# Two set-up commands for a fresh machine (see README): `make demo` and `make test`.
# Each creates its own virtual environment and installs the kit with the pins in constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test release validate bench ab labextension clean-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@# An editable install copies no data files: put the prebuilt JupyterLab extension (linked, so a rebuild
	@# shows at once) and the server extension's switch where a wheel install puts them.
	mkdir -p $(VENV)/share/jupyter/labextensions $(VENV)/etc/jupyter/jupyter_server_config.d
	ln -sfn $(CURDIR)/autograder/jupyter/labextension $(VENV)/share/jupyter/labextensions/jupyterlab-autograder
	cp autograder/jupyter/config/autograder.json $(VENV)/etc/jupyter/jupyter_server_config.d/autograder.json
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/autograder demo

# The browser test needs Debian's Chromium: installed here when missing and we are root (as in CI); elsewhere
# that test is skipped, and -rs prints why.
test: $(STAMP)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "Chromium is not installed: the browser test will be skipped"; }
	$(BIN)/python -m pytest -q -rs -n 2 tests

# Rebuild the prebuilt JupyterLab extension (autograder/jupyter/labextension/, committed) from its TypeScript
# source in jupyterlab-autograder/: needs Node.js 20 and npm. Installing or testing the kit never does this.
labextension: $(STAMP)
	cd jupyterlab-autograder && npm ci --no-audit --no-fund && npx tsc
	$(BIN)/jupyter-builder build --core-package-file "$$($(BIN)/python -c 'import jupyterlab, pathlib; \
		print(pathlib.Path(jupyterlab.__file__).parent / "staging" / "package.json")')" jupyterlab-autograder

release: $(STAMP)
	$(BIN)/autograder release

validate: $(STAMP)
	$(BIN)/autograder validate

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# This working tree against an earlier revision, on the same class, in one run: `make ab REV=<commit>`;
# PATCH=<file> applies a patch to that revision first (see benchmarks/patches/); COUNTERS=1 also counts page
# faults, context switches and memory-map calls per run (perf stat).
REV ?= HEAD
ab: $(STAMP)
	$(BIN)/python benchmarks/ab.py $(REV) $(if $(PATCH),--patch $(PATCH)) $(if $(COUNTERS),--counters)

clean-venv:
	rm -rf $(VENV)
