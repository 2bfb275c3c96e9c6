"""Airflow `[core] hostname_callable`: the name a worker records on the task instances it runs.

Several Celery workers on one machine share a host name; the server stack gives each its own
(`MLOPS_WORKER_NAME`), so the UI and the REST API say which worker ran a task.
"""

from __future__ import annotations

import socket

from pipelines.config.settings import Settings


def hostname() -> str:
    return Settings.from_env().worker_name or socket.getfqdn()
