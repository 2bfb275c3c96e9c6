"""The prediction service with TestClient: every endpoint and error, auth, the prediction log, alias
following (promote / rollback while serving), hostile clients (streamed bodies, NaN, junk paths),
unsafe models, and schemathesis against its own OpenAPI spec."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import FixedThresholdClassifier

from pipelines.config.settings import ServingSettings, Settings
from pipelines.contracts import names
from pipelines.domain.estimators import build_pipeline
from pipelines.domain.synthetic import generate_bankchurn
from pipelines.serving import BATCH_LIMIT, InsecureServingError, create_app, serve

GOOD = {"CreditScore": 650, "Age": 42, "Tenure": 3, "Balance": 120000.5, "NumOfProducts": 2, "HasCrCard": 1,
        "IsActiveMember": 0, "EstimatedSalary": 80000, "Geography": "Germany", "Gender": "Female"}
TOKEN = {"Authorization": "Bearer s3cret-token"}


def register(res, cfg, C: float, seed: int, threshold: float) -> str:
    df = generate_bankchurn(dt.date(2026, 1, 1), 1500, np.random.default_rng(seed), False)
    pipe = build_pipeline(cfg, "logistic_regression", {"C": C}, 0).fit(df[cfg.input_columns], df[cfg.target])
    model = FixedThresholdClassifier(FrozenEstimator(pipe), threshold=threshold, response_method="predict_proba").fit(
        df[cfg.input_columns], df[cfg.target])
    run_id = res.registry.start_run(cfg.name, f"s{seed}", {})
    uri = res.registry.log_model(run_id, cfg.name, model, df[cfg.input_columns].head(3), res.allowed_model_types)
    return res.registry.register(cfg.name, uri, run_id, {names.THRESHOLD: str(threshold), names.AS_OF: "2026-01-31", names.WINDOW: "a..b"})[0]


def app_for(res, *, insecure=False, **kw):
    base = dict(projects=["bankchurn"], poll_seconds=0.2, flush_seconds=0.2, log_buffer=100, max_body_bytes=200_000, cors_origins=[],
                api_token=None if insecure else "s3cret-token", risk_bands=(0.3, 0.7))
    settings = dataclasses.replace(Settings.from_env(), serving=ServingSettings(**{**base, **kw}))
    return create_app(settings, insecure=insecure, res=res)


@pytest.fixture
def champion(res, cfg):
    v = register(res, cfg, 1.0, 1, 0.35)
    res.registry.set_alias("bankchurn", names.CHAMPION, v)
    return v


def test_no_model_yet_is_degraded_and_not_ready(res):
    with TestClient(app_for(res)) as c:
        h = c.get("/health")
        assert h.status_code == 200 and h.json()["status"] == "degraded" and h.json()["missing_models"] == ["bankchurn"]
        assert c.get("/ready").status_code == 503
        r = c.post("/v1/bankchurn/predict", json=GOOD, headers=TOKEN)
        assert r.status_code == 503 and "no model loaded" in r.json()["detail"]


def test_predict_batch_model_metrics_and_errors(res, champion, lake):
    with TestClient(app_for(res), headers=TOKEN) as c:
        assert c.get("/ready").status_code == 200 and c.get("/health").json()["status"] == "ok"
        r = c.post("/v1/bankchurn/predict", json=GOOD, headers={"X-Request-ID": "abc"})
        body = r.json()
        assert r.status_code == 200 and body["model_version"] == champion and body["request_id"] == "abc"
        assert 0 <= body["probability"] <= 1 and body["threshold"] == 0.35
        assert body["label"] == int(body["probability"] >= 0.35) and body["class_label"] == ("1" if body["label"] else "not 1")
        assert c.post("/v1/bankchurn/predict", json={**GOOD, "Tenure": None}).status_code == 200  # Tenure may be missing
        b = c.post("/v1/bankchurn/predict_batch", json={"records": [GOOD] * 5}).json()
        assert b["count"] == 5 and len({p["request_id"] for p in b["predictions"]}) == 1
        too_many = c.post("/v1/bankchurn/predict_batch", json={"records": [GOOD] * (BATCH_LIMIT + 1)})
        assert too_many.status_code == 422 and "records" in str(too_many.json()["detail"])  # bounded by the schema
        for bad, field in (({**GOOD, "Geography": "Atlantis"}, "Geography"), ({**GOOD, "Age": -5}, "Age"),
                           ({k: v for k, v in GOOD.items() if k != "Balance"}, "Balance"), ({**GOOD, "Surname": "x"}, "Surname"),
                           ({**GOOD, "CreditScore": "high"}, "CreditScore")):
            r = c.post("/v1/bankchurn/predict", json=bad)
            assert r.status_code == 422 and field in str(r.json()["detail"]), (field, r.json())
        assert c.post("/v1/nope/predict", json=GOOD).status_code == 404
        info = c.get("/v1/bankchurn/model").json()
        assert info["version"] == champion and info["alias"] == "champion" and info["training_window"] == "a..b"
        m = c.get("/metrics").text
        assert 'serving_requests_total{route="/v1/bankchurn/predict",status="200"}' in m
        assert 'serving_errors_total{route="/v1/bankchurn/predict",status="422"}' in m
        assert 'serving_errors_total{route="unmatched",status="404"}' in m
        assert f'serving_model_info{{project="bankchurn",version="{champion}"}} 1.0' in m
        time.sleep(0.6)  # prediction log flush
    keys = lake.list("predictions/bankchurn/")
    assert keys and keys[0].startswith(f"predictions/bankchurn/dt={dt.date.today().isoformat()}/")


def test_the_token_is_required_unless_insecure_on_loopback(res, champion):
    with TestClient(app_for(res)) as c:
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200
        assert c.post("/v1/bankchurn/predict", json=GOOD).status_code == 401
        assert c.post("/v1/bankchurn/predict", json=GOOD, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/metrics").status_code == 401
        assert c.post("/v1/bankchurn/predict", json=GOOD, headers=TOKEN).status_code == 200
    with pytest.raises(InsecureServingError, match="API_TOKEN is not set"):
        create_app(Settings.from_env(), res=res)
    with TestClient(app_for(res, insecure=True)) as c:
        assert c.post("/v1/bankchurn/predict", json=GOOD).status_code == 200
    with pytest.raises(InsecureServingError, match="non-loopback host '0.0.0.0'"):
        serve(Settings.from_env(), "0.0.0.0", 8000, insecure=True)


def test_non_finite_and_huge_numbers_are_refused_naming_the_field(res, champion):
    fields = ["CreditScore", "Age", "Tenure", "Balance", "NumOfProducts", "HasCrCard", "IsActiveMember", "EstimatedSalary"]
    values = ["NaN", "Infinity", "-Infinity", "1e309", "1e308"]
    with TestClient(app_for(res), headers=TOKEN) as c:
        for field in fields:
            for value in values:
                body = json.dumps({**GOOD, field: "__X__"}).replace('"__X__"', value)
                r = c.post("/v1/bankchurn/predict", content=body, headers={"Content-Type": "application/json"})
                assert r.status_code == 422 and field in r.text, (field, value, r.status_code, r.text[:300])
        m = c.get("/metrics").text
        assert f'serving_errors_total{{route="/v1/bankchurn/predict",status="422"}} {len(fields) * len(values)}.0' in m


def test_body_cap_holds_for_chunked_bodies(res, champion):
    with TestClient(app_for(res, max_body_bytes=2000), headers=TOKEN) as c:
        payload = json.dumps({"records": [GOOD] * 60}).encode()  # ~14 KB

        def chunks():
            for i in range(0, len(payload), 1024):
                yield payload[i : i + 1024]

        streamed = c.post("/v1/bankchurn/predict_batch", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and "2000 bytes" in streamed.json()["detail"]
        sized = c.post("/v1/bankchurn/predict_batch", content=payload, headers={"Content-Type": "application/json"})
        assert sized.status_code == 413
        assert c.post("/v1/bankchurn/predict", json=GOOD).status_code == 200
        assert 'serving_errors_total{route="unmatched",status="413"}' in c.get("/metrics").text


def test_junk_paths_do_not_grow_the_metrics(res, champion):
    with TestClient(app_for(res)) as c:
        assert c.get("/junk-first").status_code == 404
        c.get("/metrics", headers=TOKEN)  # the scrape itself is a labelled request too
        before = len(c.get("/metrics", headers=TOKEN).text.splitlines())
        for i in range(299):
            assert c.get(f"/junk-{i}").status_code == 404
        after = c.get("/metrics", headers=TOKEN).text
        assert len(after.splitlines()) == before and "junk" not in after  # one label set for every unknown path
        assert 'serving_requests_total{route="unmatched",status="404"} 300.0' in after


def test_lake_outage_never_fails_a_request(res, champion):
    with TestClient(app_for(res, log_buffer=3), headers=TOKEN) as c:
        from pipelines.resources.lake import LocalLake

        c.app.state.service.res.lake = LocalLake("/proc/no-lake-here")  # writes fail: rows stay buffered, overflow counted
        for _ in range(5):
            assert c.post("/v1/bankchurn/predict", json=GOOD).status_code == 200
        time.sleep(0.5)
        assert 'serving_prediction_log_dropped_total{project="bankchurn"} 2.0' in c.get("/metrics").text


def test_follows_alias_on_promote_and_rollback_without_failed_requests(res, champion, cfg):
    from pipelines.steps.operations import rollback

    v2 = register(res, cfg, 0.01, 2, 0.5)
    with TestClient(app_for(res), headers=TOKEN) as c:
        assert c.post("/v1/bankchurn/predict", json=GOOD).json()["model_version"] == champion
        res.registry.set_alias("bankchurn", names.PREVIOUS, champion)
        res.registry.set_alias("bankchurn", names.CHAMPION, v2)  # what a promotion does
        deadline = time.monotonic() + 15
        while True:
            r = c.post("/v1/bankchurn/predict", json=GOOD)
            assert r.status_code == 200  # no failed request during the swap
            if r.json()["model_version"] == v2:
                break
            assert time.monotonic() < deadline, "did not follow the promotion"
            time.sleep(0.05)
        rollback(res, cfg, "test")
        deadline = time.monotonic() + 15
        while c.post("/v1/bankchurn/predict", json=GOOD).json()["model_version"] != champion:
            assert time.monotonic() < deadline, "did not follow the rollback"
            time.sleep(0.05)


def test_an_unsafe_champion_is_refused_and_the_old_one_keeps_serving(res, champion, cfg, tmp_path):
    from tests.unit.resources.test_registry import Payload, _version

    marker = tmp_path / "pwned"
    evil = _version(res, Payload(marker), fmt="pickle")
    with TestClient(app_for(res, poll_seconds=3600), headers=TOKEN) as c:
        svc = c.app.state.service
        res.registry.set_alias("bankchurn", names.CHAMPION, evil)
        assert svc.refresh("bankchurn") == "failed"
        assert c.post("/v1/bankchurn/predict", json=GOOD).json()["model_version"] == champion
        assert 'serving_model_reloads_total{project="bankchurn",result="failed"} 1.0' in c.get("/metrics").text
    assert not marker.exists()


def test_openapi_schemathesis(res, champion):
    """Generated requests (valid and invalid) for every operation: never a 5xx, responses match the spec."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    app = app_for(res)
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        ops = [r.ok() for r in schema.get_all_operations()]
        assert len(ops) >= 6
        for op in ops:

            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=op.as_strategy())
            def check(case):
                case.headers = {**(case.headers or {}), **TOKEN}
                response = case.call()
                assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
                case.validate_response(response)

            check()


def test_regression_project_answers_a_prediction(res):
    from pipelines.config import load_project
    from pipelines.domain.rows import prepare
    from pipelines.domain.synthetic import generate_carvision
    from pipelines.domain.targets import encode_target

    cfg = load_project("carvision")
    df, _ = prepare(generate_carvision(dt.date(2026, 1, 1), 800, np.random.default_rng(0), False), cfg)
    model = build_pipeline(cfg, "ridge", {"alpha": 1.0}, 0).fit(df[cfg.input_columns], encode_target(cfg, df))
    run_id = res.registry.start_run(cfg.name, "x", {})
    v = res.registry.register(cfg.name, res.registry.log_model(run_id, cfg.name, model, df[cfg.input_columns].head(3),
                                                               res.allowed_model_types), run_id, {})[0]
    res.registry.set_alias(cfg.name, names.CHAMPION, v)
    car = {"model_year": 2012, "odometer": 90000, "cylinders": 6, "is_4wd": 1, "model": "ford f-150", "condition": "good",
           "fuel": "gas", "transmission": "automatic", "type": "truck", "paint_color": None, "date_posted": "2019-01-05"}
    with TestClient(app_for(res, projects=["carvision"]), headers=TOKEN) as c:
        r = c.post("/v1/carvision/predict", json=car)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["prediction"] > 0 and body["probability"] is None and body["model_version"] == v
        assert c.post("/v1/carvision/predict", json={**car, "condition": "mint"}).status_code == 422
