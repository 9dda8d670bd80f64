# Quick start: `make demo` and `make test` on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# ECharts and HTMX from the npm registry (pinned with their integrity hashes), served by the
# dashboard itself; generated, not in git.
VENDORED := mcp_analytics/dashboard/static/vendor/.vendored

.PHONY: install demo test test-fast lint ui bench clean db-stop vendor dashboard screenshots

install: $(STAMP) $(VENDORED)

# The venv is rebuilt only when the lock or the project metadata changes.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	# The package with both extras, checked against the lock (nothing unpinned comes in).
	$(BIN)/python -m pip install --quiet --no-build-isolation -c requirements.lock -e '.[warehouse,dev]'
	touch $(STAMP)

# The main job: embedded PostgreSQL, bootstrap, a 30-day workload, then every Dagster asset
# once (raw observations -> dbt marts and their checks -> partition upkeep, retention, archive).
demo: install
	$(BIN)/mcp-analytics demo
	$(BIN)/mcp-analytics materialize
	@echo "next: 'make ui' opens the asset graph at http://127.0.0.1:3000"

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd dbt_project && ../$(BIN)/sqlfluff lint

ui: install
	$(BIN)/mcp-analytics ui

vendor: $(VENDORED)

$(VENDORED): mcp_analytics/dashboard/vendor.py | $(STAMP)
	$(BIN)/python -m mcp_analytics.dashboard.vendor
	touch $@

# The web dashboard on http://127.0.0.1:8050 (users: mcp-analytics users create NAME --role ADMIN)
dashboard: install
	$(BIN)/mcp-analytics dashboard

# Screenshots of the main pages for README.md and docs/dashboard.md (a demo database and
# Debian's chromium: apt-get install chromium)
screenshots: install
	$(BIN)/python -m tests.dashboard.screenshots docs/dashboard

bench: install
	$(BIN)/python -m bench

db-stop:
	-$(BIN)/mcp-analytics db stop

clean: db-stop
	rm -rf $(VENV) .state dbt_project/target dbt_project/logs
