# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

CHROMIUM := /usr/bin/chromium

.PHONY: run test test-slow lint typecheck pytest install system-deps bench-deps bench bench-quick translations clean

# One virtual environment with the project (editable) and its test tools.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The operator's checkpoint signing key for `make run`: made once, kept beside the
# SQLite database (set COMMITMENTS_SIGNING_KEY_FILE to use another).
run: export COMMITMENTS_SIGNING_KEY_FILE ?= var/operator.key

run: install
	@mkdir -p $(dir $(COMMITMENTS_SIGNING_KEY_FILE))
	@test -f $(COMMITMENTS_SIGNING_KEY_FILE) || $(BIN)/commitments keygen --name commitments-operator --out $(COMMITMENTS_SIGNING_KEY_FILE) 2>/dev/null >/dev/null
	$(BIN)/commitments migrate
	$(BIN)/commitments seed --demo
	@$(BIN)/commitments token bootstrap --name admin | sed 's/^/Admin token (shown once, keep it): /'
	@$(BIN)/commitments checkpoint --public-key | sed 's/^/Operator public key (witnesses set it as COMMITMENTS_OPERATOR_KEY): /'
	$(BIN)/commitments serve --host $(HOST) --port $(PORT)

test: lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Debian's Chromium for the browser tests (Playwright's own browser download cannot work here).
system-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Debian's chromium for the browser tests" >&2; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-dejavu-core; \
	fi

# The fast suite (`make test`): every behaviour, in minutes; two workers on two cores.
pytest: install system-deps
	$(BIN)/pytest -m "not slow" -n 2

# Scale and real-time runs (100k-event logs, scheduler processes over real minutes).
test-slow: install system-deps
	$(BIN)/pytest -m slow

# wrk drives the HTTP benchmarks.
bench-deps:
	@if ! command -v wrk >/dev/null; then \
	  echo "installing Debian's wrk for the HTTP benchmarks" >&2; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; \
	fi

bench: install bench-deps
	$(BIN)/python -m bench

bench-quick: install bench-deps
	$(BIN)/python -m bench --quick

# After changing any human string: extract the msgids, merge them into the French and
# Spanish catalogues, then translate the new entries (tests fail while any is missing).
LOCALES := adapters/locales
translations: install
	$(BIN)/pybabel -q extract -F $(LOCALES)/babel.cfg -k N_ --no-location --sort-output \
	  --omit-header -o $(LOCALES)/messages.pot .
	for lang in fr es; do \
	  if [ -f $(LOCALES)/$$lang/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel -q update --no-fuzzy-matching --omit-header -i $(LOCALES)/messages.pot -d $(LOCALES) -l $$lang; \
	  else \
	    $(BIN)/pybabel -q init -i $(LOCALES)/messages.pot -d $(LOCALES) -l $$lang; \
	  fi; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
