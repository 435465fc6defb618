# xinyi quick start: `make demo` (set up + main job on data/sample) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
VENV22 ?= .venv-pandas22
BIN     = $(VENV)/bin
WORKDIR ?= work

.PHONY: demo test test-full test-pandas22 setup clean browser postgres java

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

# The main job end to end on data/sample with embedded defaults (DuckDB file store, no server).
demo: setup
	$(BIN)/scoring demo --workdir $(WORKDIR)

# Full suite on the newest pandas, then the smoke subset on pandas 2.2.
test: test-full test-pandas22

test-full: setup browser postgres java
	$(BIN)/python -m pytest -n 2 -q tests

# Headless Chromium (Debian's package) and CJK fonts for the report rendering test; installed when
# missing and we are root (as on CI); otherwise that test is skipped outside CI.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; } || \
	  echo "chromium not installed: the report rendering test will be skipped"

# Debian's PostgreSQL for the serving database's second backend (tests/postgres.py starts a server of
# its own on loopback, as the postgres user when root); installed when missing and we are root.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "postgresql not installed: the PostgreSQL lane will be skipped"

# Debian's Java runtime for the Spark lane (pyspark comes from PyPI with the test extra); installed when
# no java is found and we are root.
java:
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; } || \
	  echo "java not installed: the Spark lane will be skipped"

$(VENV22)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV22)
	$(VENV22)/bin/python -m pip install -q --upgrade pip
	$(VENV22)/bin/python -m pip install -q -e ".[test]" "pandas==2.2.*"
	touch $@

test-pandas22: $(VENV22)/.installed
	$(VENV22)/bin/python -c "import pandas; assert pandas.__version__.startswith('2.2'), pandas.__version__; print('smoke subset on pandas', pandas.__version__)"
	$(VENV22)/bin/python -m pytest -q -m smoke tests

clean:
	rm -rf $(VENV) $(VENV22) $(WORKDIR)
