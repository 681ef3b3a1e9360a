SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# npm ci writes this file; axe-core (package.json) runs in the browser accessibility test
NODE_STAMP := node_modules/.package-lock.json
export FLASK_APP := app:create_app

.PHONY: install system-deps translations run test test-fast lint bench clean i18n-update

install: system-deps $(STAMP) translations $(NODE_STAMP)

system-deps:
	@scripts/system-deps.sh

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(BIN)/pip install -q -e '.[dev]' 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

translations: $(STAMP)
	@$(BIN)/pybabel compile -f -d translations >/dev/null

run: install
	scripts/run.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# pytest-xdist: one worker per CPU, each with servers of its own (tests/support/services.py)
TEST_WORKERS ?= auto
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS)

test: install lint
	$(PYTEST)

# the quick loop: no browser, no fault, kill, load or fuzz runs, no product started in processes
# of its own (gunicorn, workers, flask commands); each test rolled back (docs/development.md)
test-fast: install
	$(PYTEST) -m "not browser and not slow"

# the fault tests at full size, FAULT_ROUNDS times (make test runs them once, smaller)
FAULT_ROUNDS ?= 3

bench: install
	$(BIN)/python bench/list_and_export.py
	$(BIN)/python bench/month_end_drafting.py
	$(BIN)/python bench/load.py
	for round in $$(seq $(FAULT_ROUNDS)); do \
	  echo "fault round $$round of $(FAULT_ROUNDS)"; \
	  MONTH_END_KILL_CUSTOMERS=10000 FAULT_CUSTOMERS=3000 $(BIN)/pytest -q -p no:cacheprovider \
	    tests/reliability/test_month_end_kill.py tests/reliability/test_faults.py || exit 1; \
	done

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache node_modules

# After adding or changing user-facing strings: refresh the catalogue, then translate the new
# German entries in translations/de/LC_MESSAGES/messages.po (the test suite checks none is empty).
i18n-update: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext --no-location \
	  --ignore-dirs=".venv migrations tests bench" -o translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching -w 100 -i translations/messages.pot -d translations
