"""Shadow and canary rollouts of the challenger in the running service: shadow never changes an answer,
a canary routes a stable share by record id and says who answered, a broken challenger (unloadable or
raising) never breaks the champion's answer, the log carries version and arm, `/metrics` shows the arms."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.contracts import names
from pipelines.contracts.rollout import in_canary
from pipelines.domain.synthetic import generate_bankchurn
from pipelines.serving.service import ModelSlot, score
from pipelines.steps.operations import GovernanceError, set_rollout
from tests.unit.serving.test_serving import TOKEN, app_for, register


@pytest.fixture
def pair(res, cfg):
    """champion v1 and a clearly different challenger v2 (another C, another threshold)."""
    v1 = register(res, cfg, 1.0, 1, 0.35)
    v2 = register(res, cfg, 0.001, 2, 0.6)
    res.registry.set_alias("bankchurn", names.CHAMPION, v1)
    res.registry.set_alias("bankchurn", names.CHALLENGER, v2)
    return v1, v2


def records(n: int, cfg) -> list[dict]:
    df = generate_bankchurn(dt.date(2026, 3, 1), n, np.random.default_rng(7), False)
    out = []
    for r in df[[cfg.id_column, *cfg.input_columns]].to_dict("records"):
        r = {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        r[cfg.id_column] = int(r[cfg.id_column])
        out.append(r)
    return out


def wait_for(c: TestClient, challenger: str | None, mode: str) -> None:
    deadline = time.monotonic() + 15
    while True:
        info = c.get("/v1/bankchurn/model").json()
        if info["challenger_version"] == challenger and info["rollout"]["mode"] == mode:
            return
        assert time.monotonic() < deadline, f"the service did not pick up {mode}: {info}"
        time.sleep(0.05)


def logged(lake) -> pd.DataFrame:
    import io

    keys = lake.list("predictions/bankchurn/")
    return pd.concat([pd.read_parquet(io.BytesIO(lake.get_bytes(k))) for k in keys], ignore_index=True) if keys else pd.DataFrame()


def test_shadow_never_changes_the_answer_and_logs_the_challenger(res, cfg, pair, lake):
    v1, v2 = pair
    batch = records(200, cfg)
    with TestClient(app_for(res, log_buffer=5000), headers=TOKEN) as c:
        before = c.post("/v1/bankchurn/predict_batch", json={"records": batch}, headers={"X-Request-ID": "off"}).json()["predictions"]
        single_before = c.post("/v1/bankchurn/predict", json=batch[0]).json()
        set_rollout(res, cfg, "shadow", reason="test")
        wait_for(c, v2, "shadow")
        after = c.post("/v1/bankchurn/predict_batch", json={"records": batch}, headers={"X-Request-ID": "shadow"}).json()["predictions"]
        single_after = c.post("/v1/bankchurn/predict", json=batch[0]).json()
        strip = lambda p: {k: v for k, v in p.items() if k != "request_id"}  # noqa: E731
        assert [strip(p) for p in after] == [strip(p) for p in before] and strip(single_after) == strip(single_before)
        assert {p["model_version"] for p in after} == {v1} and {p["arm"] for p in after} == {"champion"}
        m = c.get("/metrics").text
        assert f'serving_arm_records_total{{arm="shadow",project="bankchurn",version="{v2}"}} 201.0' in m
        time.sleep(0.6)
    log = logged(lake)
    shadow = log[log["request_id"] == "shadow"]
    assert sorted(shadow["arm"].unique()) == ["champion", "shadow"]
    assert set(shadow.loc[shadow["arm"] == "shadow", "model_version"]) == {v2} and (shadow["arm"] == "shadow").sum() == 200
    assert set(shadow["record_id"].dropna()) == {str(r["CustomerId"]) for r in batch}
    champ, chal = (shadow[shadow["arm"] == a].set_index("record_id") for a in ("champion", "shadow"))
    assert not np.allclose(champ["probability"], chal.loc[champ.index, "probability"])  # really the other model


def test_canary_routes_a_stable_share_by_id_and_says_who_answered(res, cfg, pair):
    v1, v2 = pair
    batch = records(1000, cfg)
    with TestClient(app_for(res, max_body_bytes=2_000_000), headers=TOKEN) as c:
        set_rollout(res, cfg, "canary", 0.2, reason="test")
        wait_for(c, v2, "canary")
        first = c.post("/v1/bankchurn/predict_batch", json={"records": batch}).json()["predictions"]
        again = c.post("/v1/bankchurn/predict_batch", json={"records": batch[::-1]}).json()["predictions"][::-1]
        arms = [p["arm"] for p in first]
        assert arms == [p["arm"] for p in again]  # the same record, the same arm, whatever the batch order
        assert arms == ["challenger" if in_canary(f"id:{r['CustomerId']}", 0.2) else "champion" for r in batch]
        assert abs(arms.count("challenger") / len(arms) - 0.2) <= 0.03
        assert all(p["model_version"] == (v2 if p["arm"] == "challenger" else v1) for p in first)
        assert {p["threshold"] for p in first if p["arm"] == "challenger"} == {0.6}
        one = c.post("/v1/bankchurn/predict", json=batch[0]).json()
        assert one["arm"] == arms[0] and one["model_version"] == (v2 if arms[0] == "challenger" else v1)
        m = c.get("/metrics").text
        assert 'serving_arm_records_total{arm="challenger",project="bankchurn"' in m and 'serving_arm_model_seconds_count{arm="challenger"' in m
        set_rollout(res, cfg, "off", reason="test")
        wait_for(c, None, "off")
        assert {p["arm"] for p in c.post("/v1/bankchurn/predict_batch", json={"records": batch[:50]}).json()["predictions"]} == {"champion"}


class Raising:
    """A challenger that loaded but fails when called."""

    threshold = 0.5

    def predict_proba(self, X):
        raise RuntimeError("boom")

    predict = predict_proba


def test_a_challenger_that_raises_never_breaks_the_champions_answer(res, cfg, pair):
    v1, _ = pair
    batch = records(300, cfg)
    with TestClient(app_for(res, poll_seconds=3600), headers=TOKEN) as c:
        svc = c.app.state.service
        baseline = c.post("/v1/bankchurn/predict_batch", json={"records": batch}).json()["predictions"]
        set_rollout(res, cfg, "canary", 0.5, reason="test")
        svc.refresh("bankchurn")
        svc.challengers["bankchurn"] = ModelSlot("99", Raising(), 0.5, {}, "r", "now")
        r = c.post("/v1/bankchurn/predict_batch", json={"records": batch})
        assert r.status_code == 200 and r.json()["predictions"] == [{**p, "request_id": r.json()["request_id"]} for p in baseline]
        set_rollout(res, cfg, "shadow", reason="test")
        svc.refresh("bankchurn")
        svc.challengers["bankchurn"] = ModelSlot("99", Raising(), 0.5, {}, "r", "now")
        r = c.post("/v1/bankchurn/predict", json=batch[0])
        assert r.status_code == 200 and r.json()["model_version"] == v1
        m = c.get("/metrics").text
        assert 'serving_arm_errors_total{arm="challenger",project="bankchurn"} 1.0' in m
        assert 'serving_arm_errors_total{arm="shadow",project="bankchurn"} 1.0' in m


def test_a_challenger_that_fails_to_load_leaves_the_champion_answering_everything(res, cfg, pair, tmp_path):
    from tests.unit.resources.test_registry import Payload, _version

    v1, _ = pair
    marker = tmp_path / "pwned"
    evil = _version(res, Payload(marker), fmt="pickle")
    res.registry.set_alias("bankchurn", names.CHALLENGER, evil)
    set_rollout(res, cfg, "canary", 0.5, reason="test")
    with TestClient(app_for(res, poll_seconds=3600), headers=TOKEN) as c:
        svc = c.app.state.service
        assert svc.rollouts["bankchurn"].mode == "canary" and "bankchurn" not in svc.challengers
        out = c.post("/v1/bankchurn/predict_batch", json={"records": records(100, cfg)}).json()["predictions"]
        assert {(p["arm"], p["model_version"]) for p in out} == {("champion", v1)}
        assert 'serving_model_reloads_total{project="bankchurn",result="challenger_failed"} 1.0' in c.get("/metrics").text
    assert not marker.exists()


def test_a_bad_rollout_tag_keeps_the_last_good_setting(res, cfg, pair):
    with TestClient(app_for(res, poll_seconds=3600), headers=TOKEN) as c:
        svc = c.app.state.service
        set_rollout(res, cfg, "shadow", reason="test")
        svc.refresh("bankchurn")
        res.registry.set_model_tag("bankchurn", names.ROLLOUT, '{"mode": "canary", "share": 7}')
        assert svc.refresh("bankchurn") == "unchanged"
        assert svc.rollouts["bankchurn"].mode == "shadow"
        assert 'serving_model_reloads_total{project="bankchurn",result="bad_rollout"} 1.0' in c.get("/metrics").text


def test_set_rollout_needs_a_challenger_and_a_sane_share_and_is_audited(res, cfg, lake):
    v = register(res, cfg, 1.0, 1, 0.35)
    res.registry.set_alias("bankchurn", names.CHAMPION, v)
    with pytest.raises(GovernanceError, match="no challenger distinct from the champion"):
        set_rollout(res, cfg, "shadow")
    res.registry.set_alias("bankchurn", names.CHALLENGER, v)
    with pytest.raises(GovernanceError, match="no challenger distinct"):
        set_rollout(res, cfg, "canary", 0.1)
    res.registry.set_alias("bankchurn", names.CHALLENGER, register(res, cfg, 0.1, 3, 0.5))
    with pytest.raises(GovernanceError, match="0 < share <= 0.5"):
        set_rollout(res, cfg, "canary", 0.8)
    assert names.ROLLOUT not in res.registry.model_tags("bankchurn")  # nothing written by a refused setting
    rec = set_rollout(res, cfg, "canary", 0.1, reason="try it", by="ana")
    assert rec["by"] == "ana" and rec["share"] == 0.1
    assert any("rollout" in k for k in lake.list("governance/bankchurn/"))
    assert set_rollout(res, cfg, "off")["previous_setting"] is not None  # off needs no challenger


def test_score_gives_the_models_own_labels(res, cfg):
    from pipelines.domain.estimators import build_pipeline
    from sklearn.frozen import FrozenEstimator
    from sklearn.model_selection import FixedThresholdClassifier

    df = generate_bankchurn(dt.date(2026, 1, 1), 1500, np.random.default_rng(3), False)
    pipe = build_pipeline(cfg, "logistic_regression", {"C": 1.0}, 0).fit(df[cfg.input_columns], df[cfg.target])
    for t in (0.05, 0.3, 0.5, 0.9):
        model = FixedThresholdClassifier(FrozenEstimator(pipe), threshold=t, response_method="predict_proba").fit(
            df[cfg.input_columns], df[cfg.target])
        p, labels, _ = score(ModelSlot("1", model, t, {}, "r", "now"), df[cfg.input_columns], False)
        assert np.array_equal(labels, model.predict(df[cfg.input_columns])) and np.allclose(p, model.predict_proba(df[cfg.input_columns])[:, 1])
    p, labels, _ = score(ModelSlot("1", pipe, None, {}, "r", "now"), df[cfg.input_columns], False)  # no threshold: its own predict
    assert np.array_equal(labels, pipe.predict(df[cfg.input_columns]))


def test_served_predictions_join_their_late_outcomes(res, cfg, pair, lake, settings):
    """The loop on what the service really logs: champion and shadow answers for the same ids, outcomes
    that arrive the next day, judged the day after: every prediction matched once, per arm, paired."""
    from pipelines.config import OutcomesConfig
    from pipelines.steps.outcomes import import_outcomes, realized

    v1, v2 = pair
    c_out = cfg.model_copy(update={"outcomes": OutcomesConfig(label_delay_days=3)})
    frame = generate_bankchurn(dt.date(2026, 3, 1), 300, np.random.default_rng(7), False)
    batch = records(300, cfg)
    with TestClient(app_for(res, log_buffer=5000), headers=TOKEN) as c:
        set_rollout(res, cfg, "shadow", reason="test")
        wait_for(c, v2, "shadow")
        assert c.post("/v1/bankchurn/predict_batch", json={"records": batch}).status_code == 200
        time.sleep(0.6)
    today = dt.datetime.now(dt.timezone.utc).date()
    assert len(logged(lake)) == 600
    import_outcomes(lake, c_out, frame[[cfg.id_column, cfg.target]], today + dt.timedelta(days=1), settings.expectations_dir)
    assert realized(res, c_out, today + dt.timedelta(days=1))[0].counts.matched == 0  # arrived that day: not read yet
    rep, _ = realized(res, c_out, today + dt.timedelta(days=2))
    assert (rep.counts.predictions, rep.counts.matched, rep.counts.never_predicted) == (600, 600, 0)
    assert {(v.version, v.arm, v.rows) for v in rep.versions} == {(v1, "champion", 300), (v2, "shadow", 300)}
    assert (rep.champion, rep.challenger) == (v1, v2) and rep.paired is not None and rep.paired.n == 300
