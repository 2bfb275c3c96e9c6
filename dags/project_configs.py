"""Airflow DAG-folder check of the project YAMLs: builds no DAG, and fails to import -- so the UI shows
"Broken DAG" naming every invalid file and field -- when a project config does not load.

The factory (training_dags.py) skips an invalid project so the other projects keep running; this file
makes the skip visible where people look instead of leaving a log line only.
"""

from __future__ import annotations

from pipelines.config import ProjectConfigError, load_project, project_names
from pipelines.config.settings import Settings

_settings = Settings.from_env()
_errors = []
for _name in project_names(_settings):
    try:
        load_project(_name, _settings)
    except ProjectConfigError as _err:
        _errors.append(str(_err))
if _errors:
    raise ProjectConfigError(f"{len(_errors)} project config(s) do not load; their DAGs are not built:\n\n" + "\n\n".join(_errors))
