"""The lake layout: every key the pipeline reads or writes is built here and nowhere else.

    raw/<project>/dt=<day>/part-*.parquet                       immutable raw partitions (feed)
    runs/<project>/<as-of>/<data-id>/                           one run's snapshots (immutable, keyed by data hash)
        extract.json train.parquet test.parquet new.parquet
        validation/validation.json validation/data_docs.html
        evaluations/<mlflow-run-id>/vs-<champion>.json          one evaluation per (model, champion)
        evaluations/<mlflow-run-id>/vs-<champion>/<report>      its human-readable reports
        drift/<mlflow-run-id>.json, drift/<mlflow-run-id>.html  per-run drift vs the serving champion
    decisions/<project>/v<version>/decision.json               write-ahead decision record (+ .md, model card)
    monitoring/<project>/dt=<day>/drift.json|html              the daily drift monitor
    alerts/<project>/dt=<day>/<time>-<kind>-<id>.jsonl         alert lines
    predictions/<project>/dt=<day>/part-*.parquet              the serving prediction log
    outcomes/<project>/dt=<arrival day>/part-<content>.parquet  outcomes as they arrived (id, label; immutable)
    monitoring/<project>/dt=<day>/realized.json|md             realized metrics of the day (write-once)
    governance/<project>/<time>-<action>.json                  manual promotions and rollbacks

Run outputs are keyed by project, as-of date AND the run's identity (data hash, MLflow run id,
model version), so an output once written is never rewritten: a version's lineage tags always
point at what it was trained and judged on.
"""

from __future__ import annotations

import datetime as dt

# Columns extract adds to every snapshot row: its stable key and the partition date it came from.
ROW_KEY = "_row_key"
ROW_DATE = "_partition_date"
SNAPSHOT_COLUMNS = (ROW_KEY, ROW_DATE)


def data_id(data_hash: str) -> str:
    """The short form of a window's content hash used in keys (collisions at 12 hex digits: negligible)."""
    return data_hash[:12]


def raw_prefix(project: str) -> str:
    return f"raw/{project}/"


def raw_partition_prefix(project: str, day: dt.date) -> str:
    return f"raw/{project}/dt={day.isoformat()}/"


def raw_partition_key(project: str, day: dt.date, part: str = "part-0000.parquet") -> str:
    return raw_partition_prefix(project, day) + part


def run_prefix(project: str, as_of: dt.date, data_hash: str) -> str:
    return f"runs/{project}/{as_of.isoformat()}/{data_id(data_hash)}/"


def snapshot_key(project: str, as_of: dt.date, data_hash: str, name: str) -> str:
    """`name` in extract.json, train.parquet, test.parquet, new.parquet."""
    return run_prefix(project, as_of, data_hash) + name


def validation_prefix(project: str, as_of: dt.date, data_hash: str) -> str:
    return run_prefix(project, as_of, data_hash) + "validation/"


def evaluation_key(project: str, as_of: dt.date, data_hash: str, run_id: str, champion: str | None) -> str:
    return run_prefix(project, as_of, data_hash) + f"evaluations/{run_id}/vs-{_champ(champion)}.json"


def evaluation_report_prefix(project: str, as_of: dt.date, data_hash: str, run_id: str, champion: str | None) -> str:
    return run_prefix(project, as_of, data_hash) + f"evaluations/{run_id}/vs-{_champ(champion)}/"


def drift_key(project: str, as_of: dt.date, data_hash: str, run_id: str, ext: str) -> str:
    return run_prefix(project, as_of, data_hash) + f"drift/{run_id}.{ext}"


def decision_prefix(project: str, version: str) -> str:
    return f"decisions/{project}/v{version}/"


def monitoring_prefix(project: str, day: dt.date) -> str:
    return f"monitoring/{project}/dt={day.isoformat()}/"


def alert_key(project: str, at: dt.datetime, kind: str, unique: str) -> str:
    return f"alerts/{project}/dt={at.date().isoformat()}/{at.strftime('%H%M%S')}-{kind}-{unique}.jsonl"


def prediction_key(project: str, day: str, unique: str) -> str:
    return f"predictions/{project}/dt={day}/part-{unique}.parquet"


def governance_key(project: str, at: str, action: str) -> str:
    return f"governance/{project}/{at.replace(':', '')}-{action}.json"


def _champ(champion: str | None) -> str:
    return f"v{champion}" if champion else "none"


def outcome_prefix(project: str, arrived: dt.date) -> str:
    """Outcomes are stored under the day they ARRIVED: a run as of D reads only dt < D."""
    return f"outcomes/{project}/dt={arrived.isoformat()}/"


def outcome_key(project: str, arrived: dt.date, content_id: str) -> str:
    return outcome_prefix(project, arrived) + f"part-{content_id}.parquet"


def prediction_prefix(project: str, day: dt.date) -> str:
    return f"predictions/{project}/dt={day.isoformat()}/"


def realized_key(project: str, as_of: dt.date, ext: str) -> str:
    return monitoring_prefix(project, as_of) + f"realized.{ext}"
