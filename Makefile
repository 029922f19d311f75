# model-gate: `make demo` sets up and runs the gate on the demo release;
# `make test` sets up and runs lint, types and tests. Both need only Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup tools demo test quick fuzz unit unit-without-tools lint typecheck schemas docs check-docs bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# A CPU build of torch first: garak (the redteam extra) would otherwise pull a multi-GB GPU build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[signing,sbom,redteam,guard,data,evidence,robustness,dev]'
	touch $@

# The demo's vulnerability source: recorded OSV advisories served on 127.0.0.1, the way an
# air-gapped organisation runs its own mirror. examples/demo-policy.yaml points at this port.
OSV_PORT := 8765
OSV_PID  := build/osv-mirror.pid
# A copy of the demo release with a guard declared (the demo release itself stays as signed).
GUARDED  := build/demo-guarded

demo: setup
	@echo "== A local OSV mirror of recorded advisories (no internet needed)"
	@$(BIN)/python -m gate.osv_mirror --records examples/osv-records --port $(OSV_PORT) \
	  --background --pidfile $(OSV_PID) --max-lifetime 900
	@echo "== The demo release: passes the demo policy (default + local vulnerability source + demo signing key)"
	@# The adversarial check attacks the demo's endpoint: a local server for its tiny model, loopback only.
	@$(BIN)/python -m gate.redteam.demo_server --model examples/demo-release/model --port 18765 --max-seconds 600 & \
	  pid=$$!; trap 'kill $$pid 2>/dev/null' EXIT; \
	  $(BIN)/python -m gate.redteam.demo_server --wait 127.0.0.1:18765 || exit 1; \
	  $(BIN)/model-gate check examples/demo-release --policy examples/demo-policy.yaml \
	    --sbom build/demo-release.cdx.json || exit $$?; \
	  echo "   ML-BOM (CycloneDX 1.6): build/demo-release.cdx.json"; echo; \
	  if ! $(BIN)/python -c 'import nemoguardrails' 2>/dev/null; then \
	    echo "== The guarded stack: skipped, the guard extra (nemoguardrails) is not installed."; \
	    echo "   Install it with: $(BIN)/pip install -e '.[guard]'  then run make demo again."; \
	  else \
	    echo "== The demo release behind its runtime guard (NeMo Guardrails, examples/guards/nemo-strong)"; \
	    rm -rf $(GUARDED) && mkdir -p build && cp -R examples/demo-release $(GUARDED) && \
	    cp -R examples/guards/nemo-strong $(GUARDED)/guard && \
	    printf '\nguard: {type: nemo-guardrails, config: guard/}\n' >> $(GUARDED)/release.yaml && \
	    $(BIN)/model-gate redteam $(GUARDED) --policy examples/demo-guard-policy.yaml || exit $$?; \
	  fi
	@echo
	@echo "== The bad release: blocked, for reasons shown in the report (exit 1 expected)"
	@$(BIN)/model-gate check examples/bad-release --policy examples/demo-policy.yaml; code=$$?; \
	  if [ $$code -ne 1 ]; then echo "expected exit 1 from the bad release, got $$code"; exit 1; fi
	@$(BIN)/python -m gate.osv_mirror --stop --pidfile $(OSV_PID)

# CI runs the official actionlint release binary (pinned by sha256 in ci.yml); elsewhere the dev
# extra's wheel, which carries the same tool for machines that reach only the package index.
ACTIONLINT ?= $(BIN)/actionlint
lint: setup
	$(BIN)/ruff check gate tests benchmarks scripts action
	$(BIN)/ruff format --check gate tests action
	$(BIN)/mypy
	$(BIN)/mypy --strict action/venvcheck.py scripts/lock_torch_cpu.py
	$(ACTIONLINT) .github/workflows/*.yml examples/workflows/*.yml
	$(BIN)/zizmor --offline --config .github/zizmor.yml . examples/workflows/*.yml

typecheck: lint

check-docs: setup
	$(BIN)/python scripts/gen_docs.py --check

docs: setup
	$(BIN)/python scripts/gen_docs.py

# Optional tools used where present: promtool (Debian's 'prometheus' package) checks Prometheus
# rule files as Prometheus does; chromium (Debian's 'chromium') renders the HTML report in the
# browser tests. Best effort, never required: where one cannot be installed (not root, no apt-get,
# no network) the tests that need it are skipped, saying so.
# `make test TOOLS=none` leaves the machine as it is.
TOOLS ?= auto
OPTIONAL_TOOLS := promtool:prometheus chromium:chromium
tools:
	@if [ "$(TOOLS)" = none ]; then exit 0; fi; \
	updated=; \
	for pair in $(OPTIONAL_TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair#*:}; \
	  if command -v $$tool >/dev/null 2>&1; then continue; fi; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	     { [ -n "$$updated" ] || apt-get update -qq >/dev/null 2>&1; } && updated=1 && \
	     DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$pkg \
	       >/dev/null 2>&1; then \
	    echo "installed $$tool: $$($$tool --version 2>&1 | head -n 1)"; \
	  else \
	    echo "note: $$tool not installed (optional; Debian's '$$pkg' package): its tests are skipped"; \
	  fi; \
	done

unit: setup
	$(BIN)/python -m pytest --hypothesis-profile=fixed

# Everything but the tests marked slow (real garak runs, large fixtures): the loop while editing.
# `-m "not slow and not demo_endpoint"` also leaves out the one real red-team run of the demo.
quick: setup
	$(BIN)/python -m pytest --hypothesis-profile=fixed -m "not slow"

# The tests whose outcome depends on optional tools, once more as a machine without any of them
# (promtool, garak, chromium hidden): what needs one is skipped with the reason, the rest passes.
TOOL_SENSITIVE := tests/reporters/test_reporters.py tests/reporters/test_html_report.py \
  tests/test_tooling.py tests/commands/test_partial_runs.py tests/commands/test_cli_basics.py \
  tests/checks/monitoring tests/checks/deployment tests/checks/test_adversarial.py
unit-without-tools: setup
	$(BIN)/python -m pytest --hypothesis-profile=fixed --hide-tools=all $(TOOL_SENSITIVE)

# The hypothesis properties with fresh draws, once per seed (`make fuzz SEEDS="1 2 3"`): a failure
# prints the seed and a blob that reproduces it; add that example to the test with @example.
SEEDS ?= $(shell date +%s)
fuzz: setup
	@for seed in $(SEEDS); do \
	  echo "seed $$seed"; \
	  $(BIN)/python -m pytest -q -m "not slow" --hypothesis-profile=explore --hypothesis-seed=$$seed \
	    $$(grep -rl "from hypothesis import" tests --include="test_*.py") || exit 1; \
	done

test: tools lint check-docs unit unit-without-tools

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
