# Two commands do everything on a fresh machine: `make run` and `make test`.
# Both create .venv if it is missing, install the project with its test extras, and check Java.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONF ?= conf/local.yaml
PYTEST_ARGS ?=

.PHONY: run test lint java chromium notebook install clean

run: java $(STAMP)
	$(BIN)/causal-targeting run --conf $(CONF)

test: java chromium $(STAMP) lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The walkthrough notebook, executed top to bottom and saved with its outputs (plots included).
notebook: java $(STAMP)
	$(BIN)/python notebooks/execute.py notebooks/hillstrom_walkthrough.ipynb

lint: $(STAMP)
	$(BIN)/ruff check lib tests benchmarks jobs notebooks deploy

install: $(STAMP)

# Java 17+ is what pyspark needs; say how to get it and stop if it is not there.
java:
	@java_bin="$${JAVA_HOME:+$$JAVA_HOME/bin/}java"; \
	version=$$($$java_bin -version 2>&1 | awk -F'"' '/version/ {print $$2; exit}'); \
	major=$$(echo "$$version" | cut -d. -f1); \
	if [ -z "$$major" ] || [ "$$major" -lt 17 ] 2>/dev/null; then \
		echo "Java 17 or newer is required by Spark (found: $${version:-none}); install it with: sudo apt-get install -y openjdk-17-jre-headless (or set JAVA_HOME)"; \
		exit 2; \
	fi

# Headless Chromium renders the evidence report in a test. Installed once, quietly, where apt-get
# is available (Debian/Ubuntu: as root, or with sudo); elsewhere install it yourself.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1; then \
			sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
			$$sudo apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null; \
		else echo "install chromium to run the report rendering test"; fi; }

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf work spark-warehouse
