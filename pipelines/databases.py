"""One Postgres database (and role) per store -- airflow, mlflow, optuna -- created by code, not by hand.

Used by the server stack (`make up-stack`), the integration tests (which create and drop their own)
and, as SQL, by the compose init script (docker/postgres/init-databases.sh does the same).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

STORES = ("airflow", "mlflow", "optuna")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseSetupError(RuntimeError):
    pass


@dataclass(frozen=True)
class StoreDatabases:
    """SQLAlchemy URLs of the three stores."""

    airflow: str
    mlflow: str
    optuna: str
    names: tuple[str, ...]


def _connect(admin_dsn: str):  # type: ignore[no-untyped-def]
    import psycopg2

    try:
        conn = psycopg2.connect(admin_dsn, connect_timeout=5)
    except psycopg2.OperationalError as e:
        host = urlsplit(admin_dsn).hostname or admin_dsn
        raise DatabaseSetupError(f"cannot connect to Postgres at {host} ({admin_dsn.split('@')[-1]}): {str(e).strip()}") from e
    conn.autocommit = True
    return conn


def _url(admin_dsn: str, db: str, user: str | None, password: str | None) -> str:
    parts = urlsplit(admin_dsn)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    if user is None:
        cred = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    else:
        cred = f"{user}:{password}@" if password else f"{user}@"
    return urlunsplit(("postgresql+psycopg2", f"{cred}{host}{port}", f"/{db}", "", ""))


def create_databases(admin_dsn: str, prefix: str = "mlops", *, roles: bool = False, password: str | None = None) -> StoreDatabases:
    """Create `<prefix>_<store>` for each store if missing (idempotent); optionally a role each owning it."""
    if not _IDENT.match(prefix):
        raise DatabaseSetupError(f"invalid database prefix {prefix!r}: lower-case letters, digits and _ only")
    password = password if password is not None else os.environ.get("MLOPS_DB_PASSWORD", "mlops")
    urls: dict[str, str] = {}
    names = []
    conn = _connect(admin_dsn)
    try:
        with conn.cursor() as cur:
            for store in STORES:
                db = f"{prefix}_{store}"
                names.append(db)
                owner = db if roles else None
                if roles:
                    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (db,))
                    if cur.fetchone() is None:
                        cur.execute(f'CREATE ROLE "{db}" LOGIN PASSWORD %s', (password,))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{db}"' + (f' OWNER "{owner}"' if owner else ""))
                    log.info("created database %s", db)
                urls[store] = _url(admin_dsn, db, owner, password if roles else None)
    finally:
        conn.close()
    return StoreDatabases(airflow=urls["airflow"], mlflow=urls["mlflow"], optuna=urls["optuna"], names=tuple(names))


def drop_databases(admin_dsn: str, names: tuple[str, ...] | list[str], *, roles: bool = False) -> None:
    conn = _connect(admin_dsn)
    try:
        with conn.cursor() as cur:
            for db in names:
                if not _IDENT.match(db):
                    raise DatabaseSetupError(f"refusing to drop {db!r}")
                cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                if roles:
                    cur.execute(f'DROP ROLE IF EXISTS "{db}"')
    finally:
        conn.close()
