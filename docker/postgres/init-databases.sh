#!/bin/bash
# Runs once, on the first start of the Postgres container: one database and one role per store.
# Passwords come from the environment (.env); the defaults are for local development only.
set -euo pipefail

create() {
  local name="$1" password="$2"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<-SQL
	DO \$\$ BEGIN
	  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${name}') THEN
	    CREATE ROLE ${name} LOGIN PASSWORD '${password}';
	  END IF;
	END \$\$;
	SELECT 'CREATE DATABASE ${name} OWNER ${name}'
	 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${name}')\gexec
SQL
}

create airflow "${AIRFLOW_DB_PASSWORD:-airflow}"
create mlflow "${MLFLOW_DB_PASSWORD:-mlflow}"
create optuna "${OPTUNA_DB_PASSWORD:-optuna}"
