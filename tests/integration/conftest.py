from __future__ import annotations

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh Airflow metadata DB (sqlite under the test home) for dag.test()."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture(scope="session")
def training_dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.dags
