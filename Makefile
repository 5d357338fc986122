# The two commands that matter: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-slow bench lint venv docs cli-docs

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# `make run` serves the console demo: the server extra; `make test` installs every extra (the dev extra
# includes them all).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[server]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

RUN_POLICIES ?= examples/policies
RUN_ADDR ?= 127.0.0.1:3592

run: $(STAMP)
	@if [ ! -d "$(RUN_POLICIES)" ]; then \
		echo "make run: policy folder $(RUN_POLICIES) is missing; pass RUN_POLICIES=path/to/policies" >&2; exit 2; fi
	@mkdir -p .chamberlain
	@echo "chamberlain: serving $(RUN_POLICIES) on http://$(RUN_ADDR) (state in ./.chamberlain/, Ctrl-C stops)"
	@echo "try:"
	@echo "  curl -s http://$(RUN_ADDR)/api/check/resources -H 'Content-Type: application/json' -d '{\"requestId\":\"demo\",\"principal\":{\"id\":\"alice\",\"roles\":[\"finance_clerk\"]},\"resources\":[{\"actions\":[\"view\",\"pay\",\"approve\"],\"resource\":{\"kind\":\"invoice\",\"id\":\"inv-1\",\"attr\":{\"amount\":1200,\"status\":\"APPROVED\",\"submittedBy\":\"bob\"}}}]}'"
	@# The console (/console) with example data: sessions, spent budgets, a payment awaiting approval.
	@$(PY) examples/console_demo.py --config examples/chamberlain.yaml --policies $(RUN_POLICIES) --http $(RUN_ADDR) --state-dir .chamberlain

test: $(DEV_STAMP)
	@# The real Cerbos binary comes from npm; the getting-started pages use curl: install Debian's
	@# packages on a machine without them.
	@command -v npm >/dev/null || ! command -v apt-get >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q npm >/dev/null) \
		|| echo "npm could not be installed: tests that need the real Cerbos will skip (fail under CI=true)"
	@command -v curl >/dev/null || ! command -v apt-get >/dev/null || apt-get install -y -q curl >/dev/null \
		|| echo "curl could not be installed: the getting-started page tests will fail"
	@# The console's browser tests drive Debian's Chromium (tests/console/; never `playwright install`).
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || apt-get install -y -q chromium >/dev/null \
		|| echo "chromium could not be installed: the console tests will skip (fail under CI=true)"
	@# The proxy tests run Debian's nginx (auth_request) and caddy (forward_auth).
	@(command -v nginx >/dev/null || test -x /usr/sbin/nginx) && command -v caddy >/dev/null \
		|| ! command -v apt-get >/dev/null || apt-get install -y -q nginx caddy >/dev/null \
		|| echo "nginx/caddy could not be installed: the proxy tests will skip (fail under CI=true)"
	$(PY) -m tests.support.cerbos_server install
	$(PY) -m pytest -q -p no:cacheprovider -n auto -m "not slow" tests

# The long runs: fuzzing with thousands of examples per target, a five-minute soak (tests marked `slow`),
# and longer property runs (SQL filter exactness, the planner's differential test against the real Cerbos).
test-slow: $(DEV_STAMP)
	$(PY) -m tests.support.cerbos_server install
	$(PY) -m pytest -q -p no:cacheprovider -m slow -s tests
	CHAMBERLAIN_SQL_EXAMPLES=200 CHAMBERLAIN_PLAN_EXAMPLES=2000 $(PY) -m pytest -q -p no:cacheprovider -n auto \
		tests/integrations tests/engine/test_planner_differential.py

bench: $(DEV_STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/cel_bench.py
	@command -v wrk >/dev/null || (command -v apt-get >/dev/null && apt-get install -y -q wrk >/dev/null) \
		|| echo "wrk missing (Debian: apt-get install -y wrk): server_bench.py will skip"
	$(PY) bench/server_bench.py
	$(PY) bench/engine_bench.py
	$(PY) bench/audit_bench.py
	$(PY) bench/delegation_bench.py
	$(PY) bench/mcp_bench.py
	$(PY) bench/sessions_bench.py
	$(PY) bench/plan_bench.py
	$(PY) bench/sdk_bench.py
	$(PY) bench/analysis_bench.py
	$(PY) bench/proxy_bench.py

lint: $(DEV_STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench

# docs/reference/commands.md is generated from the CLI (tests/docs/test_cli_reference.py checks it).
cli-docs: $(DEV_STAMP)
	$(PY) -m chamberlain.clidoc > docs/reference/commands.md

docs: $(DEV_STAMP)
	@# NO_MKDOCS_2_WARNING: Material prints an end-of-life banner on every build.
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
