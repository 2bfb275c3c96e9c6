# Embedded default: everything under .local/ (lake folder, MLflow sqlite, Optuna sqlite, Airflow sqlite).
SHELL := /bin/bash
PY ?= python3.11
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
STATE := $(ROOT)/.local
N_TRIALS ?= 8
PROJECTS ?= bankchurn telecom carvision loanrisk
EXECUTOR ?= local
WORKERS ?= 2

export MLOPS_HOME ?= $(STATE)
export AIRFLOW_HOME ?= $(STATE)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM ?= 4
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(STATE)/airflow/airflow.db
export AIRFLOW__API__HOST ?= 127.0.0.1
export AIRFLOW__API__PORT ?= 8080
# Workers call the api-server's Execution API here (the default says localhost, which may resolve to ::1).
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL ?= http://127.0.0.1:$(AIRFLOW__API__PORT)/execution/
# MLflow's own loaders would trust a model's embedded skops list (or unpickle): off. Ours never need it.
export MLFLOW_ALLOW_PICKLE_DESERIALIZATION := false
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
export PYTHONPATH := $(ROOT)
export PATH := $(BIN):$(PATH)

.PHONY: install lock demo demo-drift up serve test test-unit test-dags test-integration test-faults lint audit-deps secrets \
        up-stack down-stack bench-quality bench-serving bench-gate bench-scale bench-hostile bench-validation bench-outcomes \
        demo-outcomes clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip >/dev/null
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt
	@touch $@

lock:
	$(BIN)/uv pip compile requirements.in -o requirements.txt --python-version 3.11

# Each project's window up to yesterday into the local lake, every training DAG run through a real
# Airflow scheduler (bankchurn twice: the second run faces a champion), then champions/challengers.
demo: install
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/python scripts/demo.py --projects $(PROJECTS) --n-trials $(N_TRIALS)
	@for p in $(PROJECTS); do echo; $(BIN)/python -m pipelines status $$p 2>/dev/null; done
	@echo; echo "Open the UIs:  make up   (Airflow http://127.0.0.1:8080 , MLflow http://127.0.0.1:5000);  serve the champions: make serve"

# Airflow standalone (127.0.0.1:8080, parallelism 4) + MLflow UI (127.0.0.1:5000, may be framed) on the local stores.
up: install
	@mkdir -p $(AIRFLOW_HOME)
	@echo "MLflow UI: http://127.0.0.1:5000   Airflow: http://127.0.0.1:8080 (admin password: $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated)"
	@$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///$(MLOPS_HOME)/mlflow.db \
	  --default-artifact-root file://$(MLOPS_HOME)/mlartifacts --x-frame-options NONE > $(STATE)/mlflow-ui.log 2>&1 & \
	  trap "kill $$! 2>/dev/null" EXIT INT TERM; \
	  ( for i in $$(seq 1 90); do sleep 2; $(BIN)/python scripts/create_pools.py >/dev/null 2>&1 && break; done ) & \
	  $(BIN)/airflow standalone

clean:
	rm -rf $(STATE)

# Prediction service on 127.0.0.1:8000 for every project's champion (after make demo). Without
# API_TOKEN it runs --insecure, which only binds loopback; set API_TOKEN for anything shared.
serve: install
	@if [ -n "$$API_TOKEN" ]; then $(BIN)/python -m pipelines serve --host 127.0.0.1 --port 8000; \
	 else echo "API_TOKEN unset: serving WITHOUT authentication on 127.0.0.1 only (--insecure)"; \
	      $(BIN)/python -m pipelines serve --host 127.0.0.1 --port 8000 --insecure; fi

test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit
test-dags: install
	$(BIN)/python -m pytest tests/dags
test-integration: install
	$(BIN)/python -m pytest tests/integration
# The fault-injection suite (also part of make test); writes its table into benchmarks/reliability.md.
test-faults: install
	MLOPS_RELIABILITY_OUT=$(STATE)/reliability-faults.json $(BIN)/python -m pytest -m faults tests/integration
	$(BIN)/python benchmarks/reliability_report.py --faults $(STATE)/reliability-faults.json

# Static gates (also run by make test through tests/test_static.py and tests/test_security_gates.py).
lint: install
	$(BIN)/ruff check --select F,E9 pipelines dags plugins scripts tests benchmarks
	$(BIN)/python -m mypy pipelines
	$(BIN)/bandit -q -c pyproject.toml -ll -r pipelines dags plugins scripts
	$(BIN)/detect-secrets-hook --baseline .secrets.baseline $$(git ls-files)
# Known-vulnerable pins: needs the PyPI/OSV vulnerability services (unreachable from some machines).
audit-deps: install
	$(BIN)/pip-audit -r requirements.txt --no-deps --disable-pip --strict --progress-spinner off

# A .env with random secrets for docker-compose.airflow.yml (refuses to overwrite one).
secrets: install
	$(BIN)/python -m pipelines gen-env --output .env

# Server stack without Docker: moto S3 + MLflow server (Postgres, S3 artifacts, basic-auth) + Airflow on
# Postgres (LocalExecutor, or EXECUTOR=celery WORKERS=N Celery workers on Redis), task logs in S3.
up-stack: install
	$(BIN)/python scripts/stack.py up --executor $(EXECUTOR) --workers $(WORKERS)

down-stack:
	$(BIN)/python scripts/stack.py down

# Drift -> retrain loop through dag.test on a fresh embedded stack under .local/demo-drift.
demo-drift: install
	rm -rf $(STATE)/demo-drift
	@set -o pipefail; MLOPS_HOME=$(STATE)/demo-drift $(BIN)/python scripts/demo_drift.py 2>$(STATE)/demo-drift.log \
	  | tee -a $(STATE)/demo-drift.log | grep "^» " | sed 's/^» //' \
	  || { echo "demo-drift failed; see $(STATE)/demo-drift.log"; tail -30 $(STATE)/demo-drift.log; exit 1; }

bench-quality: install
	$(BIN)/python benchmarks/bench_quality.py
bench-serving: install
	$(BIN)/python benchmarks/bench_serving.py
bench-gate: install
	$(BIN)/python benchmarks/bench_gate.py
# A concept shift the drift monitor cannot see, caught on realized outcomes: 60 stable days, the shift,
# detection, the retrain (~15 min here). demo-outcomes: the same story with a 21-day stable period.
bench-outcomes: install
	$(BIN)/python benchmarks/bench_outcomes.py --report benchmarks/outcomes.md
demo-outcomes: install
	$(BIN)/python benchmarks/bench_outcomes.py --stable-days 21 --after-days 50 --n-trials 4
bench-scale: install
	$(BIN)/python benchmarks/bench_scale.py
bench-hostile: install
	$(BIN)/python benchmarks/bench_hostile.py
bench-validation: install
	$(BIN)/python benchmarks/bench_validation.py
