# The README's two commands: `make up` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.medinfer-installed

.PHONY: up test install bench clean-state

up: $(STAMP)
	MEDINFER_ENVIRONMENT=$${MEDINFER_ENVIRONMENT:-development} $(BIN)/medinfer up

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "medinfer: installing the pinned dependencies into $(VENV) (the first time takes a few minutes) ..."
	$(BIN)/python -m pip install --progress-bar on --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --progress-bar on --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --no-deps -e .
	@echo "medinfer: dependencies installed"
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python bench/bench_infer.py

clean-state:
	rm -rf .medinfer

# ---- deploy/ (issue 8) -------------------------------------------------------
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
.PHONY: architecture deploy-generate deploy-check checkov-venv crd-validators

# deploy/architecture.png from deploy/architecture.dot (tests fail while it is stale).
architecture: $(STAMP)
	$(BIN)/python deploy/architecture.py

# Files derived from others: blue-green Triton slots, the PrometheusRule.
deploy-generate: $(STAMP)
	$(BIN)/python deploy/generate.py

# checkov lives in its own venv (it pins many libraries of its own).
checkov-venv: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

# Every offline check of deploy/ (kustomize, kubernetes-validate, promtool, hadolint,
# actionlint, checkov, manifest/code agreement, live Prometheus scrape).
deploy-check: $(STAMP) $(CHECKOV_STAMP) crd-validators
	$(BIN)/python -m pytest tests/deploy -q

# Schema validators for the custom resources (KEDA, prometheus-operator, cert-manager).
crd-validators: tests/deploy/crd/node_modules/.installed

tests/deploy/crd/node_modules/.installed: tests/deploy/crd/package-lock.json
	npm ci --prefix tests/deploy/crd --no-audit --no-fund --loglevel=error
	touch $@

# ---- web console (issue 20) --------------------------------------------------
.PHONY: console-screenshot
# Runs the console's browser tests (real stack, Debian chromium) and copies the Models page they saved into
# console-screenshots/ (git-ignored) to docs/console.png, the picture in the README.
console-screenshot: $(STAMP)
	$(BIN)/python -m pytest tests/e2e/test_console.py -q -k "oidc_login"
	cp console-screenshots/model.png docs/console.png
