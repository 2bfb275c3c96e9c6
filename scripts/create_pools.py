"""Create the Airflow pools the DAGs use: `<project>_register` (1 slot) per project YAML.

Run where Airflow's metadata DB is configured (stack, compose airflow-init): python scripts/create_pools.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from airflow.models.pool import Pool

    from pipelines.config import project_names
    from pipelines.config.settings import Settings

    for project in project_names(Settings.from_env()):
        name = f"{project}_register"
        Pool.create_or_update_pool(name, slots=1, description=f"{project}: one register/promotion at a time",
                                   include_deferred=False)
        print(f"pool {name}: 1 slot")


if __name__ == "__main__":
    main()
