"""MLflow runs: one run per pipeline run, keyed by the tag `mlops.run_key = <project>/<as-of>` and a
fingerprint of its inputs, so a rerun finds its run instead of creating a duplicate; params, metrics,
tags, artifacts and the run's input datasets.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pipelines.config.settings import REPO_ROOT
from pipelines.contracts import names
from pipelines.resources.registry.client import MlflowClientBase, RunInfo, metric_key


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunLog(MlflowClientBase):
    """Runs: find or start the pipeline run's MLflow run, log to it, finish it."""

    # ---------------------------------------------------------------------------------- runs
    def find_runs(self, project: str, run_key: str) -> list[Any]:
        return list(self.client.search_runs([self.experiment_id(project)], filter_string=f"tags.`{names.RUN_KEY}` = '{run_key}'",
                                            order_by=["attributes.start_time DESC"]))

    def reusable_run(self, project: str, run_key: str, fingerprint: str) -> RunInfo | None:
        """The newest earlier run of the same run key and inputs that finished logging its model.
        Other runs of the key (other inputs, or attempts that died) are left alone: they may belong to
        a run still in flight elsewhere, and MLflow keeps the record of what happened."""
        for run in self.find_runs(project, run_key):
            tags = run.data.tags
            if tags.get(names.FINGERPRINT) == fingerprint and tags.get(names.MODEL_URI):
                return self._run_info(run)
        return None

    def start_run(self, project: str, run_name: str, tags: dict[str, str]) -> str:
        run = self.client.create_run(self.experiment_id(project), run_name=run_name,
                                     tags={names.PROJECT: project, "git_commit": git_commit(), **tags})
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:500]) for k, v in params.items()]
        for i in range(0, len(items), 90):
            self.client.log_batch(run_id, params=items[i : i + 90])

    def log_metrics(self, run_id: str, metrics: dict[str, float | None], *, timestamp_ms: int | None = None, step: int = 0) -> None:
        from mlflow.entities import Metric

        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        items = [Metric(metric_key(k), float(v), ts, step) for k, v in metrics.items() if v is not None and v == v]
        for i in range(0, len(items), 900):
            self.client.log_batch(run_id, metrics=items[i : i + 900])

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)[:5000]) for k, v in tags.items()]
        for i in range(0, len(items), 90):
            self.client.log_batch(run_id, tags=items[i : i + 90])

    def set_run_description(self, run_id: str, markdown: str) -> None:
        self.client.set_tag(run_id, names.RUN_NOTE, markdown[:60_000])

    def log_artifacts(self, run_id: str, artifacts: dict[str, Path | str | bytes], artifact_dir: str | None = None) -> None:
        """name -> file path, text or bytes."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in artifacts.items():
                dest = Path(tmp) / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    dest.write_bytes(content.read_bytes())
                elif isinstance(content, bytes):
                    dest.write_bytes(content)
                else:
                    dest.write_text(content)
            self.client.log_artifacts(run_id, tmp, artifact_dir)

    def log_dataset(self, run_id: str, *, name: str, source_uri: str, digest: str, rows: int, columns: list[str],
                    context: str) -> None:
        """Record a lake snapshot as the run's input (MLflow's Datasets view): source = lake URI."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        ds = Dataset(name=name, digest=digest[:36], source_type="lake", source=json.dumps({"uri": source_uri}),
                     schema=json.dumps({"columns": columns}), profile=json.dumps({"num_rows": rows}))
        self.client.log_inputs(run_id, [DatasetInput(ds, tags=[InputTag("mlflow.data.context", context)])])

    def finish_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def run(self, run_id: str) -> RunInfo:
        return self._run_info(self.client.get_run(run_id))

    @staticmethod
    def _run_info(r: Any) -> RunInfo:
        return RunInfo(r.info.run_id, str(r.info.experiment_id), r.info.status, dict(r.data.metrics), dict(r.data.params),
                       dict(r.data.tags))
