"""The outcomes steps on a real embedded stack: outcome files validated and stored under their arrival
day (a bad file writes nothing, the same file twice is stored once), and the daily realized report over
a prediction log with a champion and a shadow challenger: counts that add up, the same report on a
rerun, the decay rule firing the alert sink on its second breached day."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from pipelines.config import DecayRule, OutcomesConfig, load_project
from pipelines.contracts import layout, names
from pipelines.domain.validation import DataValidationError
from pipelines.steps.outcomes import OutcomesNotConfigured, import_outcomes, realized

START = dt.date(2026, 3, 1)


def with_outcomes(cfg, **decay):  # type: ignore[no-untyped-def]
    rule = DecayRule(metric="roc_auc", **decay) if decay else None
    return cfg.model_copy(update={"outcomes": OutcomesConfig(label_delay_days=7, window_days=20, decay=rule)})


def test_outcome_files_are_validated_and_stored_once(res, cfg, settings) -> None:  # type: ignore[no-untyped-def]
    c = with_outcomes(cfg)
    with pytest.raises(OutcomesNotConfigured):
        import_outcomes(res.lake, cfg.model_copy(update={"outcomes": None}), pd.DataFrame({"CustomerId": [1], "Exited": [1]}), START,
                        settings.expectations_dir)
    for bad, named in ((pd.DataFrame({"CustomerId": [1, 1], "Exited": [0, 1]}), "expect_column_values_to_be_unique[CustomerId]"),
                       (pd.DataFrame({"CustomerId": [1, 2], "Exited": [0, 3]}), "expect_column_values_to_be_in_set[Exited]"),
                       (pd.DataFrame({"CustomerId": [1, None], "Exited": [0, 1]}), "expect_column_values_to_not_be_null[CustomerId]")):
        with pytest.raises(DataValidationError) as e:
            import_outcomes(res.lake, c, bad, START, settings.expectations_dir)
        assert named in str(e.value), str(e.value)
    assert res.lake.list("outcomes/") == []  # a refused file writes nothing
    good = pd.DataFrame({"CustomerId": [15634602.0, 7], "Exited": [1, 0]})
    uri, written, n = import_outcomes(res.lake, c, good, START, settings.expectations_dir)
    assert written and n == 2 and f"outcomes/bankchurn/dt={START}/" in uri
    assert import_outcomes(res.lake, c, good, START, settings.expectations_dir)[1] is False  # same file again: stored once
    stored = res.lake.get_parquet(res.lake.key_of(uri))
    assert stored["record_id"].tolist() == ["15634602", "7"]  # as the prediction log writes ids


def test_outcomes_block_needs_an_id_column() -> None:
    carvision = load_project("carvision")
    with pytest.raises(ValueError, match="outcomes needs id_column"):
        type(carvision).model_validate({**carvision.model_dump(), "outcomes": {"label_delay_days": 7}})


def _register(res, project: str, threshold: float) -> str:  # type: ignore[no-untyped-def]
    run_id = res.registry.start_run(project, "t", {})
    version, _ = res.registry.register(project, f"file:///nowhere/{run_id}", run_id, {names.THRESHOLD: str(threshold)})
    return version


def _log(res, day: dt.date, ids: np.ndarray, version: str, arm: str, p: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Rows as the service's prediction log writes them."""
    df = pd.DataFrame({"timestamp": f"{day}T10:00:00+00:00", "request_id": "r", "record_id": [str(i) for i in ids],
                       "model_version": version, "arm": arm, "probability": p, "label": (p >= 0.5).astype(float), "prediction": np.nan})
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    res.lake.put_bytes(layout.prediction_key("bankchurn", day.isoformat(), f"{version}{arm}"), buf.getvalue(), overwrite=False)


def test_realized_report_pairs_shadow_and_fires_on_decay(res, cfg, settings) -> None:  # type: ignore[no-untyped-def]
    c = with_outcomes(cfg, floor=0.97, consecutive=2, min_rows=50)  # a floor the champion cannot reach: decays
    v1, v2 = _register(res, "bankchurn", 0.4), _register(res, "bankchurn", 0.5)
    rng = np.random.default_rng(3)
    truth: dict[int, int] = {}
    for d in range(10):
        day = START + dt.timedelta(days=d)
        ids = np.arange(d * 100, d * 100 + 100)
        y = (rng.random(100) < 0.3).astype(int)
        truth.update(zip(ids.tolist(), y.tolist()))
        latent = 2.0 * y - 1.0
        _log(res, day, ids, v1, "champion", 1 / (1 + np.exp(-(latent + rng.normal(0, 0.8, 100)))))
        _log(res, day, ids, v2, "shadow", 1 / (1 + np.exp(-(latent + rng.normal(0, 2.5, 100)))))
        # outcomes of day d's predictions arrive 5 days later; every 10th never arrives
        arrived = START + dt.timedelta(days=d + 5)
        keep = ids[ids % 10 != 0]
        import_outcomes(res.lake, c, pd.DataFrame({"CustomerId": keep, "Exited": [truth[i] for i in keep]}), arrived, settings.expectations_dir)
    as_of = START + dt.timedelta(days=12)  # outcomes of days 0..6 have arrived (arrival days 5..11)
    rep, md = realized(res, c, as_of)
    k = rep.counts
    assert k.predictions == 2 * 10 * 100 and k.duplicate_predictions == 0
    assert k.matched == 2 * 7 * 90 and k.late == 0
    # due 7 days after the prediction: the 10 never-arriving ids of days 0-4 are overdue (missing); those of days 5-6
    # and all of days 7-9 are not due yet (pending); both arms
    assert k.missing == 2 * 5 * 10 and k.pending == 2 * (2 * 10 + 3 * 100)
    assert k.predictions == k.matched + k.pending + k.missing + k.outcome_first
    assert (rep.champion, rep.challenger) == (v1, v2)
    by = {(v.version, v.arm): v for v in rep.versions}
    assert by[(v1, "champion")].rows == 630 and by[(v1, "champion")].positives == sum(truth[i] for d in range(7) for i in range(d * 100, d * 100 + 100) if i % 10)
    assert rep.paired is not None and rep.paired.n == 630 and rep.paired.ci_high < 0  # the noisy shadow is worse, paired on the same ids
    assert not rep.decayed and "1 breached" in rep.decay_reason  # one breached window: not yet
    assert res.lake.list("alerts/") == []
    text = res.lake.get_bytes(res.lake.key_of(md)).decode()
    assert "| 2,000 | 0 | 1,260 | 0 |" in text and f"v{v2} - champion v{v1}" in text

    run = res.registry.client.get_run(res.registry.version("bankchurn", v1).run_id)
    assert run.data.metrics["realized/champion/roc_auc"] == pytest.approx(by[(v1, "champion")].metrics["roc_auc"].value)
    assert run.data.metrics["realized/champion/outcomes"] == 630

    again, _ = realized(res, c, as_of)  # same day twice: the stored report, nothing rewritten
    assert again == rep and len(res.lake.list(layout.monitoring_prefix("bankchurn", as_of))) == 2

    nxt, _ = realized(res, c, as_of + dt.timedelta(days=1))
    assert nxt.decayed and nxt.signal and "2 breached" in nxt.decay_reason
    alerts = res.lake.list("alerts/bankchurn/")
    assert len(alerts) == 1 and "decayed on realized outcomes" in res.lake.get_bytes(alerts[0]).decode()
    third, _ = realized(res, c, as_of + dt.timedelta(days=2))  # still decayed; signalled at 2, again at 4: not today
    assert third.decayed and not third.signal and len(res.lake.list("alerts/bankchurn/")) == 1
    fourth, _ = realized(res, c, as_of + dt.timedelta(days=3))
    assert fourth.signal and len(res.lake.list("alerts/bankchurn/")) == 2

    # a new champion starts serving: it is the champion at once, and the old one's breaches do not count against it
    _log(res, as_of + dt.timedelta(days=3), np.arange(5000, 5100), "9", "champion", rng.random(100))
    fifth, _ = realized(res, c, as_of + dt.timedelta(days=4))
    assert fifth.champion == "9" and not fifth.decayed and not fifth.signal and "not judged" in fifth.decay_reason
