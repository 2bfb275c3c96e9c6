"""The prediction service with TestClient: every endpoint and error, auth on/off, the prediction log,
alias following (promote / rollback while serving), and schemathesis against its own OpenAPI spec."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pipelines import tracking
from pipelines.feed import generate_bankchurn
from pipelines.serving import BATCH_LIMIT, ServingSettings, create_app
from pipelines.train import build_pipeline

GOOD = {"CreditScore": 650, "Age": 42, "Tenure": 3, "Balance": 120000.5, "NumOfProducts": 2, "HasCrCard": 1,
        "IsActiveMember": 0, "EstimatedSalary": 80000, "Geography": "Germany", "Gender": "Female"}


def _register(cfg, C: float, seed: int, threshold: float) -> str:
    df = generate_bankchurn(dt.date(2026, 1, 1), 1500, np.random.default_rng(seed), False)
    model = build_pipeline(cfg, "logistic_regression", {"C": C}, 0).fit(df[cfg.features], df[cfg.target])
    logged = tracking.log_training(cfg.name, f"{cfg.name}/s{seed}", f"s{seed}", model, df[cfg.features].head(3), {}, {},
                                   {"mlops.threshold": str(threshold)})
    version, _ = tracking.register_version(cfg.name, logged.run_id, logged.model_uri,
                                           {"mlops.threshold": str(threshold), "as_of": "2026-01-31", "window": "a..b"})
    return version


def _settings(**kw) -> ServingSettings:
    base = dict(projects=["bankchurn"], poll_seconds=0.2, flush_seconds=0.2, log_buffer=100, max_body_bytes=200_000,
                cors_origins=[], api_token=None, risk_bands=(0.3, 0.7))
    return ServingSettings(**{**base, **kw})


@pytest.fixture
def champion(home, cfg):
    v = _register(cfg, 1.0, 1, 0.35)
    tracking.set_alias("bankchurn", "champion", v)
    return v


def test_no_model_yet_is_degraded_and_not_ready(home):
    with TestClient(create_app(_settings())) as c:
        h = c.get("/health")
        assert h.status_code == 200 and h.json()["status"] == "degraded" and h.json()["missing_models"] == ["bankchurn"]
        assert c.get("/ready").status_code == 503
        r = c.post("/v1/bankchurn/predict", json=GOOD)
        assert r.status_code == 503 and "no model loaded" in r.json()["detail"]


def test_predict_batch_model_metrics_and_errors(champion, lake):
    with TestClient(create_app(_settings())) as c:
        assert c.get("/ready").status_code == 200 and c.get("/health").json()["status"] == "ok"
        r = c.post("/v1/bankchurn/predict", json=GOOD, headers={"X-Request-ID": "abc"})
        body = r.json()
        assert r.status_code == 200 and body["model_version"] == champion and body["request_id"] == "abc"
        assert 0 <= body["probability"] <= 1 and body["threshold"] == 0.35
        assert body["label"] == int(body["probability"] >= 0.35)
        assert body["risk_level"] == ("low" if body["probability"] < 0.3 else "medium" if body["probability"] < 0.7 else "high")
        missing = {**GOOD, "Tenure": None}  # Tenure may be missing (as in the public data)
        assert c.post("/v1/bankchurn/predict", json=missing).status_code == 200

        b = c.post("/v1/bankchurn/predict_batch", json={"records": [GOOD] * 5}).json()
        assert b["count"] == 5 and len({p["request_id"] for p in b["predictions"]}) == 1
        too_many = c.post("/v1/bankchurn/predict_batch", json={"records": [GOOD] * (BATCH_LIMIT + 1)})
        assert too_many.status_code == 413 and str(BATCH_LIMIT) in too_many.json()["detail"]

        for bad, field in (({**GOOD, "Geography": "Atlantis"}, "Geography"), ({**GOOD, "Age": -5}, "Age"),
                           ({k: v for k, v in GOOD.items() if k != "Balance"}, "Balance"), ({**GOOD, "Surname": "x"}, "Surname"),
                           ({**GOOD, "CreditScore": "high"}, "CreditScore")):
            r = c.post("/v1/bankchurn/predict", json=bad)
            assert r.status_code == 422 and field in str(r.json()["detail"]), (field, r.json())
        assert c.post("/v1/nope/predict", json=GOOD).status_code == 404
        assert "unknown project" in c.post("/v1/nope/predict", json=GOOD).json()["detail"]

        info = c.get("/v1/bankchurn/model").json()
        assert info["version"] == champion and info["alias"] == "champion" and info["training_window"] == "a..b"

        m = c.get("/metrics").text
        assert 'serving_requests_total{endpoint="predict",project="bankchurn",status="200"}' in m
        assert 'serving_errors_total{endpoint="predict",project="bankchurn",status="422"}' in m
        assert "serving_request_latency_seconds_bucket" in m and "serving_predicted_value_bucket" in m
        assert f'serving_model_info{{project="bankchurn",version="{champion}"}} 1.0' in m
        time.sleep(0.6)  # prediction log flush
    keys = lake.list("predictions/bankchurn/")
    assert keys and keys[0].startswith(f"predictions/bankchurn/dt={dt.date.today().isoformat()}/")
    import pandas as pd

    logged = pd.concat([lake.get_parquet(k) for k in keys])
    assert len(logged) >= 7 and {"timestamp", "request_id", "model_version", "inputs", "probability", "label"} <= set(logged.columns)


def test_auth_on(champion):
    with TestClient(create_app(_settings(api_token="s3cret"))) as c:
        assert c.get("/health").status_code == 200 and c.get("/ready").status_code == 200
        assert c.post("/v1/bankchurn/predict", json=GOOD).status_code == 401
        assert c.post("/v1/bankchurn/predict", json=GOOD, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/metrics").status_code == 401
        ok = c.post("/v1/bankchurn/predict", json=GOOD, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_body_limit_and_cors(champion):
    with TestClient(create_app(_settings(max_body_bytes=500))) as c:
        r = c.post("/v1/bankchurn/predict_batch", json={"records": [GOOD] * 10})
        assert r.status_code == 413 and "500 bytes" in r.json()["detail"]
        assert "access-control-allow-origin" not in c.get("/health", headers={"Origin": "http://x.test"}).headers
    with TestClient(create_app(_settings(cors_origins=["http://ui.test"]))) as c:
        assert c.get("/health", headers={"Origin": "http://ui.test"}).headers["access-control-allow-origin"] == "http://ui.test"


def test_lake_outage_never_fails_a_request(champion, monkeypatch):
    with TestClient(create_app(_settings(log_buffer=3))) as c:
        svc = c.app.state.service
        svc.lake = None  # the lake is down: rows stay buffered, overflow is counted
        for _ in range(5):
            assert c.post("/v1/bankchurn/predict", json=GOOD).status_code == 200
        time.sleep(0.5)
        assert 'serving_prediction_log_dropped_total{project="bankchurn"} 2.0' in c.get("/metrics").text


def test_follows_alias_on_promote_and_rollback_without_failed_requests(champion, cfg):
    v2 = _register(cfg, 0.01, 2, 0.5)
    with TestClient(create_app(_settings())) as c:
        assert c.post("/v1/bankchurn/predict", json=GOOD).json()["model_version"] == champion
        tracking.set_alias("bankchurn", "previous", champion)
        tracking.set_alias("bankchurn", "champion", v2)  # what a promotion does
        seen, deadline = set(), time.monotonic() + 15
        while time.monotonic() < deadline:
            r = c.post("/v1/bankchurn/predict", json=GOOD)
            assert r.status_code == 200  # no failed request during the swap
            seen.add(r.json()["model_version"])
            if r.json()["model_version"] == v2:
                break
            time.sleep(0.05)
        assert v2 in seen
        from pipelines.governance import rollback
        from pipelines.storage import open_lake

        rollback(cfg, open_lake(), "test")
        deadline = time.monotonic() + 15
        while c.post("/v1/bankchurn/predict", json=GOOD).json()["model_version"] != champion:
            assert time.monotonic() < deadline, "did not follow the rollback"
            time.sleep(0.05)


def test_a_version_that_fails_to_load_keeps_the_old_one(champion, cfg, monkeypatch):
    v2 = _register(cfg, 0.5, 3, 0.5)
    with TestClient(create_app(_settings(poll_seconds=3600))) as c:
        svc = c.app.state.service
        tracking.set_alias("bankchurn", "champion", v2)
        real = tracking.load_model
        monkeypatch.setattr(tracking, "load_model", lambda uri: (_ for _ in ()).throw(OSError("artifact store down")))
        assert svc.refresh("bankchurn") == "failed"
        assert c.post("/v1/bankchurn/predict", json=GOOD).json()["model_version"] == champion
        monkeypatch.setattr(tracking, "load_model", real)
        assert svc.refresh("bankchurn") == "loaded"
        assert c.post("/v1/bankchurn/predict", json=GOOD).json()["model_version"] == v2


def test_openapi_schemathesis(champion):
    """Generated requests (valid and invalid) for every operation: never a 5xx, responses match the spec."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    app = create_app(_settings())
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        ops = [r.ok() for r in schema.get_all_operations()]
        assert len(ops) >= 6
        for op in ops:

            @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(case=op.as_strategy())
            def check(case):
                response = case.call()
                assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
                case.validate_response(response)

            check()


def test_regression_project_answers_a_prediction(home):
    from pipelines.config import load_project
    from pipelines.extract import prepare
    from pipelines.feed import generate_carvision

    cfg = load_project("carvision")
    df, _ = prepare(generate_carvision(dt.date(2026, 1, 1), 800, np.random.default_rng(0), False), cfg)
    model = build_pipeline(cfg, "ridge", {"alpha": 1.0}, 0).fit(df[cfg.input_columns], df[cfg.target])
    logged = tracking.log_training(cfg.name, "carvision/x", "x", model, df[cfg.input_columns].head(3), {}, {}, {})
    v, _ = tracking.register_version(cfg.name, logged.run_id, logged.model_uri, {"mlops.threshold": ""})
    tracking.set_alias(cfg.name, "champion", v)
    car = {"model_year": 2012, "odometer": 90000, "cylinders": 6, "is_4wd": 1, "model": "ford f-150", "condition": "good",
           "fuel": "gas", "transmission": "automatic", "type": "truck", "paint_color": None, "date_posted": "2019-01-05"}
    with TestClient(create_app(_settings(projects=["carvision"]))) as c:
        r = c.post("/v1/carvision/predict", json=car)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["prediction"] > 0 and body["probability"] is None and body["model_version"] == v
        assert c.post("/v1/carvision/predict", json={**car, "condition": "mint"}).status_code == 422
