"""One Postgres database (and role) per store -- airflow, mlflow, optuna -- created by code, not by hand.

Used by the server stack (`make up-stack`), the integration tests (which create and drop their own)
and, as SQL, by the compose init script (docker/postgres/init-databases.sh does the same). Names and
passwords are quoted by psycopg's `sql` module (identifiers) and bound as parameters (passwords);
passwords are URL-encoded in connection URLs and never printed.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

log = logging.getLogger(__name__)

STORES = ("airflow", "mlflow", "optuna")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseSetupError(RuntimeError):
    pass


@dataclass(frozen=True)
class StoreDatabases:
    """SQLAlchemy URLs of the three stores (with credentials when roles were created)."""

    airflow: str
    mlflow: str
    optuna: str
    names: tuple[str, ...]

    def redacted(self, store: str) -> str:
        url = getattr(self, store)
        return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)

    def write_env(self, path: Path) -> None:
        body = (f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={self.airflow}\nOPTUNA_STORAGE={self.optuna}\n"
                f"MLFLOW_BACKEND_STORE_URI={self.mlflow}\n")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)


def _connect(admin_dsn: str):  # type: ignore[no-untyped-def]
    import psycopg2

    try:
        conn = psycopg2.connect(admin_dsn, connect_timeout=5)
    except psycopg2.OperationalError as e:
        host = urlsplit(admin_dsn).hostname or "?"
        msg = str(e).strip().replace(admin_dsn, "<dsn>")
        raise DatabaseSetupError(f"cannot connect to Postgres at {host}:{urlsplit(admin_dsn).port or 5432}: {msg}") from e
    conn.autocommit = True
    return conn


def store_url(admin_dsn: str, db: str, user: str | None, password: str | None) -> str:
    """postgresql+psycopg2 URL of `db`: the admin's credentials, or `user`:`password` (URL-encoded)."""
    parts = urlsplit(admin_dsn)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    if user is None:
        cred = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    else:
        cred = f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else f"{quote(user, safe='')}@"
    return urlunsplit(("postgresql+psycopg2", f"{cred}{host}{port}", f"/{db}", "", ""))


def create_databases(admin_dsn: str, prefix: str = "mlops", *, roles: bool = False, password: str | None = None) -> StoreDatabases:
    """Create `<prefix>_<store>` for each store if missing (idempotent); optionally a role each owning it.
    Roles get `password`, or a random one when none is given (there is no default password)."""
    from psycopg2 import sql

    if not _IDENT.match(prefix):
        raise DatabaseSetupError(f"invalid database prefix {prefix!r}: lower-case letters, digits and _ only")
    if roles and not password:
        password = secrets.token_urlsafe(24)
    urls: dict[str, str] = {}
    names = []
    conn = _connect(admin_dsn)
    try:
        with conn.cursor() as cur:
            for store in STORES:
                db = f"{prefix}_{store}"
                names.append(db)
                if roles:
                    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (db,))
                    verb = "ALTER" if cur.fetchone() else "CREATE"
                    cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(db)), (password,))
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                if cur.fetchone() is None:
                    stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db))
                    if roles:
                        stmt = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(db))
                    cur.execute(stmt)
                    log.info("created database %s", db)
                urls[store] = store_url(admin_dsn, db, db if roles else None, password if roles else None)
    finally:
        conn.close()
    return StoreDatabases(airflow=urls["airflow"], mlflow=urls["mlflow"], optuna=urls["optuna"], names=tuple(names))


def drop_databases(admin_dsn: str, names: tuple[str, ...] | list[str], *, roles: bool = False) -> None:
    from psycopg2 import sql

    conn = _connect(admin_dsn)
    try:
        with conn.cursor() as cur:
            for db in names:
                if not _IDENT.match(db):
                    raise DatabaseSetupError(f"refusing to drop {db!r}")
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
                if roles:
                    cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(db)))
    finally:
        conn.close()
