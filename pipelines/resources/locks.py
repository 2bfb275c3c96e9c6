"""Named locks that serialise registry writes (and one training run per identity) across processes.

* Postgres advisory locks when the stores are on Postgres (the server stack and compose): they hold
  across machines, and a process that dies releases its lock with its connection.
* File locks (`flock`) under `$MLOPS_HOME/locks` for the embedded default, where every process runs
  on one machine.

`hold(name, timeout_s)` waits at most `timeout_s`, then raises `LockTimeout` naming the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class LockTimeout(RuntimeError):
    pass


class Locks(Protocol):
    kind: str

    def hold(self, name: str, timeout_s: float) -> contextlib.AbstractContextManager[None]: ...


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class FileLocks:
    """flock-based: one machine only (the embedded default)."""

    kind = "file"

    def __init__(self, folder: Path):
        self.folder = folder

    @contextlib.contextmanager
    def hold(self, name: str, timeout_s: float) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{_safe(name)}.lock"
        with open(path, "w") as f:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(f"could not take the lock {name!r} ({path}) within {timeout_s:.0f}s") from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(f"mlops:{name}".encode()).digest()[:8], "big", signed=True)


def psycopg_dsn(url: str) -> str:
    """SQLAlchemy URL (postgresql+psycopg2://...) -> libpq URL (postgresql://...)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


class PostgresLocks:
    """Session-level advisory locks on a dedicated connection: they hold across machines."""

    kind = "postgres"

    def __init__(self, url: str):
        self.dsn = psycopg_dsn(url)

    @contextlib.contextmanager
    def hold(self, name: str, timeout_s: float) -> Iterator[None]:
        import psycopg2

        key = advisory_key(name)
        conn = psycopg2.connect(self.dsn, connect_timeout=10, application_name=f"mlops-lock:{name}"[:60])
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                deadline = time.monotonic() + timeout_s
                while True:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                    row = cur.fetchone()
                    if row is not None and row[0]:
                        break
                    if time.monotonic() > deadline:
                        raise LockTimeout(f"could not take the advisory lock {name!r} (key {key}) within {timeout_s:.0f}s")
                    time.sleep(0.25)
                try:
                    yield
                finally:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
        finally:
            conn.close()


def open_locks(lock_url: str | None, home: Path) -> Locks:
    if lock_url:
        if not lock_url.startswith("postgresql"):
            raise ValueError(f"MLOPS_LOCK_URL must be a postgresql:// URL, got {lock_url.split('://')[0]}://...")
        return PostgresLocks(lock_url)
    return FileLocks(home / "locks")
