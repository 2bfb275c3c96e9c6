"""Setup commands: `create-databases` (one Postgres database per store) and `gen-env` (random secrets).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipelines.config.settings import Settings


def cmd_create_databases(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.resources.databases import create_databases

    dbs = create_databases(a.admin_dsn, a.prefix, roles=a.roles, password=s.db_password)
    print(f"# databases ready: {', '.join(dbs.names)}" + (" (role passwords: MLOPS_DB_PASSWORD or generated; not printed)" if a.roles else ""))
    if a.env_file:
        dbs.write_env(Path(a.env_file))
        print(f"# connection URLs (with credentials) written to {a.env_file} (mode 600)")
    else:
        print(f"export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={dbs.redacted('airflow')}")
        print(f"export OPTUNA_STORAGE={dbs.redacted('optuna')}")
        print(f"# mlflow server --backend-store-uri {dbs.redacted('mlflow')} ...   (pass --env-file FILE for the full URLs)")
    return 0


def cmd_gen_env(a: argparse.Namespace, s: Settings) -> int:
    from pipelines.resources.secrets import write_env_file

    path = write_env_file(Path(a.output), overwrite=a.overwrite)
    print(f"wrote {path} (mode 600): random passwords, JWT secret and Fernet key; it is git-ignored, keep it out of images")
    return 0


def add_setup_commands(sub: Any) -> None:
    c = sub.add_parser("create-databases", help="create one Postgres database per store (airflow, mlflow, optuna)")
    c.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    c.add_argument("--prefix", default="mlops")
    c.add_argument("--roles", action="store_true", help="also a login role per database (password: MLOPS_DB_PASSWORD or generated)")
    c.add_argument("--env-file", help="write the connection URLs (with credentials) to this file instead of printing them")
    c.set_defaults(fn=cmd_create_databases)

    g = sub.add_parser("gen-env", help="write a .env with random secrets for the compose stack")
    g.add_argument("--output", default=".env")
    g.add_argument("--overwrite", action="store_true")
    g.set_defaults(fn=cmd_gen_env)
