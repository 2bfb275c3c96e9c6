"""Registry locks: a file lock on one machine; a Postgres advisory lock that holds across processes
(and machines) and is released when its holder dies."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest

from pipelines.resources.locks import FileLocks, LockTimeout, PostgresLocks, advisory_key, open_locks, psycopg_dsn
from tests.conftest import PG_ADMIN, require_pg


def test_file_lock_times_out_naming_the_lock(tmp_path):
    locks = FileLocks(tmp_path)
    with locks.hold("registry:bankchurn", 5):
        other = FileLocks(tmp_path)
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="registry:bankchurn"):
            with other.hold("registry:bankchurn", 0.5):
                pass
        assert time.monotonic() - started < 3
    with locks.hold("registry:bankchurn", 1):  # released
        pass


def _hold(dsn: str, ready, seconds: float) -> None:  # type: ignore[no-untyped-def]
    with PostgresLocks(dsn).hold("registry:locktest", 5):
        ready.set()
        time.sleep(seconds)


def test_postgres_lock_excludes_another_process_and_dies_with_it():
    require_pg()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_hold, args=(PG_ADMIN, ready, 60))
    p.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockTimeout, match="registry:locktest"):
            with PostgresLocks(PG_ADMIN).hold("registry:locktest", 1):
                pass
        os.kill(p.pid, signal.SIGKILL)  # the holder dies: its connection closes, the lock goes with it
        p.join(10)
        with PostgresLocks(PG_ADMIN).hold("registry:locktest", 10):
            pass
    finally:
        if p.is_alive():
            p.kill()


def test_lock_backend_follows_the_settings(tmp_path):
    assert open_locks(None, tmp_path).kind == "file"
    assert open_locks("postgresql+psycopg2://u:p@h:5432/db", tmp_path).kind == "postgres"
    with pytest.raises(ValueError, match="postgresql"):
        open_locks("redis://h", tmp_path)
    assert psycopg_dsn("postgresql+psycopg2://u:p@h/db") == "postgresql://u:p@h/db"
    assert advisory_key("a") == advisory_key("a") != advisory_key("b")
