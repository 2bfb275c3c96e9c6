"""The policy-replay step: every recorded decision of a project re-decided under a proposed policy,
read from the lake only (decision records, evaluations, stored comparison scores); the registry is
not read or written, so a replay can never move an alias.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re

import pandas as pd

from pipelines.config import ProjectConfig
from pipelines.contracts import Evaluation
from pipelines.domain.replay import Replayed, replay
from pipelines.resources.lake import Lake
from pipelines.steps.promotion import latest_record

log = logging.getLogger(__name__)


def recorded_versions(lake: Lake, project: str) -> list[str]:
    """Versions with a decision record, oldest first."""
    found = {m.group(1) for k in lake.list(f"decisions/{project}/") if (m := re.match(rf"decisions/{project}/v(\d+)/decision-\d+\.json$", k))}
    return sorted(found, key=int)


def policy_replay(lake: Lake, proposed: ProjectConfig, since: dt.date | None = None) -> list[Replayed]:
    """Re-decide each recorded version (its newest decision) under `proposed.promotion`."""
    out = []
    for version in recorded_versions(lake, proposed.name):
        rec, _ = latest_record(lake, proposed.name, version)
        if rec is None or (since is not None and rec.as_of < since):
            continue
        ev = Evaluation.from_json(lake.get_json(lake.key_of(rec.evaluation_uri)))
        rows = pd.read_parquet(io.BytesIO(lake.get_bytes(lake.key_of(ev.scores_uri)))) if ev.scores_uri else None
        r = replay(proposed, version, rec.decision, ev, rows, rec.as_of)
        log.info("v%s (as of %s): recorded %s, replayed %s%s", version, r.as_of, r.recorded, r.replayed,
                 f"; changed: {'; '.join(r.changed[:3])}" if r.flipped else "")
        out.append(r)
    return out


def replay_and_report(lake: Lake, proposed: ProjectConfig, policy_name: str, since: dt.date | None = None) -> tuple[list[Replayed], str]:
    """Replay, then store the markdown report under `governance/<project>/` (what the UI's replay DAG
    links); returns the results and the report's URI."""
    from pipelines.domain.replay import replay_markdown

    results = policy_replay(lake, proposed, since)
    at = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"governance/{proposed.name}/policy-replay-{at}.md"
    lake.put_bytes(key, replay_markdown(proposed.name, policy_name, results, since).encode(), overwrite=False)
    return results, lake.uri(key)
