# The two commands a new user needs: `make serve` and `make test`.
# Both create a private virtualenv (.venv) on first use and install OpenSTS into it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: serve test bench fleet install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Run the server on its embedded default (SQLite in ./.opensts, http://127.0.0.1:8600; see README).
serve: $(STAMP)
	$(BIN)/opensts serve $(ARGS)

## Run the whole test suite (this is what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## A local multi-Region fleet on loopback (PostgreSQL primary + hot standby, Redis, nodes of us-east-1
## and us-west-2; needs the machine's PostgreSQL and redis-server). Ctrl-C stops it. docs/DEPLOYMENT.md.
fleet: $(STAMP)
	$(BIN)/python -m tools.localfleet $(ARGS)

## Load benchmark against moto and a trivial ASGI app (not part of CI; see bench/README.md).
bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
