# Embedded default: everything under .local/ (lake folder, MLflow sqlite, Optuna sqlite, Airflow sqlite).
SHELL := /bin/bash
PY ?= python3.11
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
STATE := $(ROOT)/.local
DEMO_START ?= 2026-01-01
DEMO_END ?= 2026-03-01
DEMO_DATES ?= 2026-02-28 2026-03-02
N_TRIALS ?= 20

export MLOPS_HOME ?= $(STATE)
export AIRFLOW_HOME ?= $(STATE)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM ?= 4
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(STATE)/airflow/airflow.db
export AIRFLOW__API__HOST ?= 127.0.0.1
export PYTHONPATH := $(ROOT)
export PATH := $(BIN):$(PATH)

.PHONY: install demo demo-drift serve bench-serving bench-quality test test-unit test-dags test-integration up up-stack down-stack lock clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip >/dev/null
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt
	@touch $@

lock:
	$(BIN)/uv pip compile requirements.in -o requirements.txt --python-version 3.11

# Feed 60 days per project, run each training DAG through Airflow (`airflow dags test`): bankchurn for
# two dates (the second faces a champion), the other three once; then print champions/challengers.
PROJECTS ?= bankchurn telecom carvision loanrisk
demo: install
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(STATE)/airflow-migrate.log 2>&1 || (tail -20 $(STATE)/airflow-migrate.log; exit 1)
	@for p in $(PROJECTS); do \
	  if [ -d "$(MLOPS_HOME)/lake/raw/$$p/dt=$(DEMO_START)" ]; then echo "$$p: lake already fed (rm -rf .local to start over)"; \
	  else $(BIN)/python -m pipelines feed $$p --start $(DEMO_START) --end $(DEMO_END) || exit 1; fi; \
	  dates="$(lastword $(DEMO_DATES))"; [ "$$p" = bankchurn ] && dates="$(DEMO_DATES)"; \
	  for d in $$dates; do \
	    echo "== airflow dags test $${p}_training $$d (n_trials=$(N_TRIALS); log: $(STATE)/dags-test-$$p-$$d.log)"; \
	    $(BIN)/airflow dags test $${p}_training $$d -c '{"n_trials": $(N_TRIALS)}' > $(STATE)/dags-test-$$p-$$d.log 2>&1 \
	      || { grep -E "ERROR|Error|failed" $(STATE)/dags-test-$$p-$$d.log | tail -20; exit 1; }; \
	    grep -E "\[pipelines\.(extract|validate|evaluate|steps)\]|best trial" $(STATE)/dags-test-$$p-$$d.log | grep -v "logged model" \
	      | sed -E 's/^.*\[(info|warning|error) *\] //; s/ +\[pipelines[^]]*\].*$$//' | cut -c1-240; \
	  done; \
	done
	@for p in $(PROJECTS); do echo; $(BIN)/python -m pipelines status $$p; done
	@echo; echo "Open the UIs:  make up   (Airflow http://127.0.0.1:8080 , MLflow http://127.0.0.1:5000);  serve the champions: make serve"

test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit
test-dags: install
	$(BIN)/python -m pytest tests/dags
test-integration: install
	$(BIN)/python -m pytest tests/integration

# Airflow standalone (127.0.0.1:8080, parallelism 4) + MLflow UI (127.0.0.1:5000) on the local stores.
up: install
	@mkdir -p $(AIRFLOW_HOME)
	@echo "MLflow UI: http://127.0.0.1:5000   Airflow: http://127.0.0.1:8080 (admin password: $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated)"
	@$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri sqlite:///$(MLOPS_HOME)/mlflow.db \
	  --default-artifact-root file://$(MLOPS_HOME)/mlartifacts > $(STATE)/mlflow-ui.log 2>&1 & \
	  trap "kill $$! 2>/dev/null" EXIT INT TERM; \
	  ( for i in $$(seq 1 90); do sleep 2; $(BIN)/python scripts/create_pools.py >/dev/null 2>&1 && break; done ) & \
	  $(BIN)/airflow standalone

clean:
	rm -rf $(STATE)

# Prediction service on 127.0.0.1:8000 for every project's champion (after make demo).
serve: install
	$(BIN)/python -m pipelines serve --host 127.0.0.1 --port 8000

bench-quality: install
	$(BIN)/python benchmarks/bench_quality.py

bench-serving: install
	$(BIN)/python benchmarks/bench_serving.py

# Server stack without Docker: moto S3 + MLflow server (Postgres, S3 artifacts) + Airflow on Postgres.
up-stack: install
	$(BIN)/python scripts/stack.py up

down-stack:
	$(BIN)/python scripts/stack.py down

# Drift -> retrain loop through dag.test on a fresh embedded stack under .local/demo-drift.
demo-drift: install
	rm -rf $(STATE)/demo-drift
	@set -o pipefail; MLOPS_HOME=$(STATE)/demo-drift $(BIN)/python scripts/demo_drift.py 2>$(STATE)/demo-drift.log \
	  | tee -a $(STATE)/demo-drift.log | grep "^» " | sed 's/^» //' \
	  || { echo "demo-drift failed; see $(STATE)/demo-drift.log"; tail -30 $(STATE)/demo-drift.log; exit 1; }
