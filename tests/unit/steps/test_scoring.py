"""The batch scorer: yesterday's partition scored by the champion and a shadow challenger into the
prediction log (the service's columns, the target never read), written once, a model never scoring a
partition it may have trained on; then the outcomes loop judges those batch predictions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipelines.config import OutcomesConfig
from pipelines.contracts import names
from pipelines.domain.scoring import predict_arrays
from pipelines.steps.feed import feed_synthetic
from pipelines.steps.outcomes import import_outcomes, realized
from pipelines.steps.scoring import score_partition
from tests.unit.serving.test_serving import register

AS_OF = dt.date(2026, 3, 8)  # scores partition 2026-03-07


@pytest.fixture
def fed(res, cfg):  # type: ignore[no-untyped-def]
    feed_synthetic(res.lake, cfg, dt.date(2026, 3, 1), dt.date(2026, 3, 9), rows_per_day=80, seed=4)
    return res


def test_no_champion_or_no_partition_scores_nothing(fed, cfg) -> None:  # type: ignore[no-untyped-def]
    assert score_partition(fed, cfg, AS_OF).reason == "no champion yet"
    fed.registry.set_alias("bankchurn", names.CHAMPION, register(fed, cfg, 1.0, 1, 0.35))
    out = score_partition(fed, cfg, dt.date(2026, 4, 2))
    assert out.status == "skipped" and "no rows in partition 2026-04-01" in out.reason
    assert fed.lake.list("predictions/") == []


def test_champion_and_shadow_scored_once_then_judged(fed, cfg, settings) -> None:  # type: ignore[no-untyped-def]
    v1, v2 = register(fed, cfg, 1.0, 1, 0.35), register(fed, cfg, 0.001, 2, 0.6)
    fed.registry.set_alias("bankchurn", names.CHAMPION, v1)
    fed.registry.set_alias("bankchurn", names.CHALLENGER, v2)
    out = score_partition(fed, cfg, AS_OF)
    assert out.status == "scored" and [(a.version, a.arm) for a in out.arms] == [(v1, "champion"), (v2, "shadow")]
    raw = fed.lake.get_parquet("raw/bankchurn/dt=2026-03-07/part-0000.parquet")
    champ = fed.lake.get_parquet(fed.lake.key_of(out.arms[0].uri))
    assert len(champ) == len(raw) == out.arms[0].rows and f"input.{cfg.target}" not in champ.columns
    assert champ["record_id"].tolist() == raw[cfg.id_column].astype(int).astype(str).tolist()
    assert set(champ["timestamp"]) == {"2026-03-08T00:00:00+00:00"}  # predicted "at" the as-of day
    model = fed.load_model(f"models:/bankchurn/{v1}")
    p, label, _ = predict_arrays(model, raw[cfg.input_columns], False)
    np.testing.assert_allclose(champ["probability"], p)
    assert (champ["label"] == label).all() and ((champ["probability"] >= 0.35) == (champ["label"] == 1)).all()
    before = {k: fed.lake.get_bytes(k) for k in fed.lake.list("predictions/")}
    again = score_partition(fed, cfg, AS_OF)  # a rerun writes nothing
    assert [a.reason for a in again.arms] == ["already scored", "already scored"]
    assert {k: fed.lake.get_bytes(k) for k in fed.lake.list("predictions/")} == before

    # the outcomes of 03-07 arrive 03-09: the run as of 03-10 judges both arms on all of them
    c = cfg.model_copy(update={"outcomes": OutcomesConfig(label_delay_days=5)})
    import_outcomes(fed.lake, c, raw[[cfg.id_column, cfg.target]], dt.date(2026, 3, 9), settings.expectations_dir)
    rep, _ = realized(fed, c, dt.date(2026, 3, 10))
    assert rep.counts.matched == 2 * len(raw) and rep.counts.never_predicted == 0
    assert {(v.version, v.arm, v.rows) for v in rep.versions} == {(v1, "champion", len(raw)), (v2, "shadow", len(raw))}
    assert rep.paired is not None and rep.paired.n == len(raw)


def test_a_model_never_scores_a_partition_it_may_have_trained_on(fed, cfg) -> None:  # type: ignore[no-untyped-def]
    v1, v2 = register(fed, cfg, 1.0, 1, 0.35), register(fed, cfg, 0.001, 2, 0.6)
    fed.registry.set_version_tags("bankchurn", v2, {names.AS_OF: "2026-03-08"})  # trained on data up to 03-07
    fed.registry.set_alias("bankchurn", names.CHAMPION, v1)
    fed.registry.set_alias("bankchurn", names.CHALLENGER, v2)
    out = score_partition(fed, cfg, AS_OF)
    champion, shadow = out.arms
    assert champion.uri and shadow.uri is None and "may be in its training rows" in shadow.reason
    assert len(pd.concat([fed.lake.get_parquet(k) for k in fed.lake.list("predictions/")])) == champion.rows
