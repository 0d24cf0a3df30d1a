# The two commands of the README:  `make serve` (install, then run the web service)
# and `make test` (install, then run the tests). Everything else here serves those two.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test install browser services bench bench-scale screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL and Redis for the tests of storage on PostgreSQL and grading on a queue:
# the tests start their own servers in temporary folders (no service is left running), and
# `make serve` needs neither.
services:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null; }

serve: install
	$(BIN)/grader serve

test: install browser services
	$(BIN)/ruff check grader tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: install
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/bench_part.py

# Submissions per second, embedded and on 1, 2 and 4 workers (docs/deploy.md has the figures).
bench-scale: install services
	$(BIN)/python benchmarks/bench_scale.py

# Refresh the README's screenshots (docs/images) from the browser test.
screenshots: install browser
	GRADER_SCREENSHOT_DIR=docs/images $(BIN)/pytest -q tests/web/test_web_browser.py
