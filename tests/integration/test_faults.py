"""Fault injection on the real server stack (Postgres, the S3 server over HTTP, the MLflow server): the
MLflow server and the S3 API go down mid-step, uploads are cut mid-transfer, Postgres connections
are killed mid-search, the register process is SIGKILLed at each alias write, and a register races
an operator's rollback 20 times. Each test ends by checking the registry and the lake: no partial
object read as data, no version left without a decision once retried, no champion without a
recorded passing decision, no lost rollback target. Retries are Airflow's: the step is called
again, up to its configured 3 tries. `make test-faults` runs this suite and, with
MLOPS_RELIABILITY_OUT set, writes the table in benchmarks/reliability.md."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from pipelines.contracts import DecisionRecord, RunSpec, names
from pipelines.resources.databases import create_databases, drop_databases
from tests.conftest import PG_ADMIN, REPO, require_pg, small
from tests.faultkit import BIN, MlflowServer, Proxy, free_port, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.faults]
ROWS: list[dict] = []
D = dt.date


def record(fault: str, where: str, tries: int, outcome: str, state: str, data_lost: str = "none", wrong: int = 0) -> None:
    ROWS.append({"fault": fault, "where": where, "tries": tries, "outcome": outcome, "registry": state, "data_lost": data_lost,
                 "wrong_promotions": wrong})


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    out = os.environ.get("MLOPS_RELIABILITY_OUT")
    if out and ROWS:
        Path(out).write_text(json.dumps(ROWS, indent=2))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_pg()
    import boto3

    home = tmp_path_factory.mktemp("faults")
    dbs = create_databases(PG_ADMIN, f"mlops_f{uuid.uuid4().hex[:8]}")
    s3_port = free_port()
    moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_http(f"http://127.0.0.1:{s3_port}/", 60, moto)
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3_port}", aws_access_key_id="fault", aws_secret_access_key="fault-secret",
                      region_name="us-east-1")
    for b in ("lake", "mlflow"):
        s3.create_bucket(Bucket=b)
    server = MlflowServer(dbs.mlflow, f"http://127.0.0.1:{s3_port}", "mlflow", home / "mlflow.log")
    server.start()
    s3_proxy, mlflow_proxy = Proxy(s3_port), Proxy(server.port)
    env = {"MLOPS_HOME": str(home), "MLOPS_LAKE": "s3://lake/mlops", "AWS_ENDPOINT_URL": s3_proxy.url, "AWS_ACCESS_KEY_ID": "fault",
           "AWS_SECRET_ACCESS_KEY": "fault-secret", "AWS_DEFAULT_REGION": "us-east-1", "MLOPS_S3_MAX_ATTEMPTS": "2",
           "MLFLOW_TRACKING_URI": mlflow_proxy.url, "OPTUNA_STORAGE": dbs.optuna, "MLOPS_LOCK_URL": dbs.optuna,
           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield {"s3": s3, "s3_proxy": s3_proxy, "mlflow_proxy": mlflow_proxy, "server": server, "dbs": dbs, "env": env}
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        s3_proxy.close()
        mlflow_proxy.close()
        server.stop()
        os.killpg(moto.pid, 9)
        drop_databases(PG_ADMIN, dbs.names)


@pytest.fixture
def res(stack):  # the stores as a task builds them, pointed at the stack (through the proxies)
    from pipelines.resources import Resources

    return Resources.from_env()


def attempt(fn, *, tries: int = 3, heal=None):  # type: ignore[no-untyped-def]
    """Airflow's retries: call again after a failure (after `heal`, which ends the outage)."""
    errors = []
    for i in range(1, tries + 1):
        try:
            return fn(), i, errors
        except Exception as e:  # a failed try: recorded, then retried like a task
            errors.append(f"{type(e).__name__}: {str(e)[:160]}")
            if heal:
                heal()
    raise AssertionError(f"still failing after {tries} tries: {errors}")


def objects(stack, prefix: str) -> dict[str, int]:
    s3 = stack["s3"]
    return {o["Key"]: o["Size"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="lake", Prefix=f"mlops/{prefix}")
            for o in p.get("Contents", [])}


def check_registry(res, project: str = "bankchurn") -> str:
    """Every version decided (or pending and aliased nowhere); the champion's decision passed; previous != champion."""
    aliases = res.registry.aliases(project)
    for mv in res.registry.client.search_model_versions(f"name = '{project}'"):
        v, tags = str(mv.version), mv.tags
        if tags.get(names.DECISION) == "pending":
            assert v not in aliases.values(), f"v{v} is aliased without a decision"
        else:
            assert tags.get(names.DECISION_STATE) == "applied", (v, tags.get(names.DECISION_STATE))
    champ = aliases.get(names.CHAMPION)
    if champ:
        tags = res.registry.version(project, champ).tags
        assert tags[names.DECISION] in ("promoted", "promoted_manually") and tags.get(names.PROMOTION_CHECKS, "passed") == "passed"
    assert aliases.get(names.PREVIOUS) != champ or champ is None
    return ", ".join(f"{k}=v{v}" for k, v in sorted(aliases.items())) or "no aliases"


@pytest.fixture(scope="module")
def fed(stack):
    from pipelines.config import load_project
    from pipelines.resources import Resources
    from pipelines.steps.feed import feed_synthetic

    feed_synthetic(Resources.from_env().lake, load_project("bankchurn"), D(2026, 1, 1), D(2026, 1, 30), rows_per_day=220, seed=21)


def spec(day: D, n_trials: int = 2, **kw) -> RunSpec:
    return RunSpec(project="bankchurn", as_of=day, interval_start=day - dt.timedelta(days=2), n_trials=n_trials, window_days=20, **kw)


def test_s3_outage_during_extract_and_a_cut_snapshot_upload(stack, fed, res, cfg):
    from pipelines.steps.extract import load_snapshot, step_extract

    c, proxy = small(cfg, n_trials=2), stack["s3_proxy"]
    proxy.down()
    ex, tries, errors = attempt(lambda: step_extract(res, c, spec(D(2026, 1, 24))), heal=proxy.up)
    assert tries == 2 and "LakeError" in errors[0] and stack["s3_proxy"].url.split("//")[1] in errors[0]
    record("S3 API down", "extract (reading partitions)", tries, "failed cleanly, retry succeeded", "unchanged (no model yet)")

    proxy.cut_after(40_000, times=4)  # the snapshot upload dies mid-body, and so do boto3's own retries of it
    ex2, tries, errors = attempt(lambda: step_extract(res, c, spec(D(2026, 1, 26))))
    assert tries == 2 and errors
    for uri in (ex2.window_uri, ex2.train_uri, ex2.test_uri, ex2.new_uri):  # whole objects only: each reads, row counts match
        load_snapshot(res.lake, uri)
    assert len(load_snapshot(res.lake, ex2.train_uri)) == ex2.train_rows and len(load_snapshot(res.lake, ex2.test_uri)) == ex2.test_rows
    assert not [k for k in objects(stack, "runs/") if ".tmp" in k]
    record("S3 connection cut after 40 KB (x4: boto3's retries too)", "extract (snapshot upload)", tries, "upload failed, no object; retry wrote it whole",
           "unchanged", "none (every snapshot reads, row counts match extract.json)")


def test_mlflow_down_during_train_evaluate_and_register(stack, fed, res, cfg, monkeypatch):
    from pipelines.steps import promotion
    from pipelines.steps.evaluate import step_evaluate
    from pipelines.steps.extract import step_extract
    from pipelines.steps.refit import step_refit
    from pipelines.steps.register import step_register
    from pipelines.steps.train import step_plan_search, step_tune
    from pipelines.steps.validate import step_validate

    c, proxy = small(cfg, n_trials=2), stack["mlflow_proxy"]
    s = spec(D(2026, 1, 28))
    ex = step_extract(res, c, s)
    val = step_validate(res, c, s, ex)
    p = step_plan_search(res, c, s, ex)
    step_tune(res, c, ex, p, 0, 2)

    real_log_model = res.registry.log_model

    def log_model_then_die(*a, **k):  # the server goes away while the model is being logged
        proxy.down()
        return real_log_model(*a, **k)

    monkeypatch.setattr(res.registry, "log_model", log_model_then_die)
    tr, tries, errors = attempt(lambda: step_refit(res, c, s, ex, val, p), heal=lambda: (monkeypatch.undo(), proxy.up()))
    assert tries == 2 and tr.model_uri and not tr.reused
    runs = res.registry.find_runs("bankchurn", s.run_key)
    assert len(runs) == 2 and sum(bool(r.data.tags.get(names.MODEL_URI)) for r in runs) == 1  # the dead attempt is never reused
    record("MLflow server unreachable", "refit (logging the model)", tries, "failed cleanly, retry trained and logged", "unchanged")

    proxy.down()
    evd, tries, _ = attempt(lambda: step_evaluate(res, c, s, ex, tr), heal=proxy.up)
    assert tries == 2
    record("MLflow server unreachable", "evaluate (reading the champion alias)", tries, "failed (not read as 'no champion'); retry ok",
           "unchanged")

    real_decide = promotion.decide_and_move

    def die_before_decision(*a, **k):
        proxy.down()
        return real_decide(*a, **k)

    monkeypatch.setattr(promotion, "decide_and_move", die_before_decision)
    reg, tries, _ = attempt(lambda: step_register(res, c, s, ex, tr, evd), heal=lambda: (monkeypatch.undo(), proxy.up()))
    assert tries == 2 and reg.decision == "promoted" and reg.version == "1"
    state = check_registry(res)
    record("MLflow server unreachable", "register, after the version, before the decision", tries,
           "version left 'pending' with no alias; retry decided and moved", state)

    # a second run; now the real server process is killed during its evaluate, restarted by an operator
    s2 = spec(D(2026, 1, 30))
    ex2 = step_extract(res, c, s2)
    tr2 = stack_train(res, c, s2, ex2)
    stack["server"].stop()
    started = time.monotonic()
    evd2, tries, errors = attempt(lambda: step_evaluate(res, c, s2, ex2, tr2), heal=stack["server"].start)
    assert tries == 2 and time.monotonic() - started < 240
    record("MLflow server process killed (SIGKILL), restarted", "evaluate", tries, "failed cleanly, retry ok after restart", check_registry(res))

    real_apply = promotion.journal_and_apply

    def die_after_decision(res_, project, moves, label):
        proxy.down()
        return real_apply(res_, project, moves, label)

    monkeypatch.setattr(promotion, "journal_and_apply", die_after_decision)
    reg2, tries, _ = attempt(lambda: step_register(res, c, s2, ex2, tr2, evd2), heal=lambda: (monkeypatch.undo(), proxy.up()))
    assert tries == 2 and reg2.reused  # the recorded decision was completed, not made again
    rec = DecisionRecord.from_json(res.lake.get_json(f"decisions/bankchurn/v{reg2.version}/decision-1.json"))
    assert not res.lake.exists(f"decisions/bankchurn/v{reg2.version}/decision-2.json")
    expected = {m.alias: m.version for m in rec.moves if m.version}
    aliases = res.registry.aliases("bankchurn")
    assert all(aliases.get(a) == v for a, v in expected.items())
    record("MLflow server unreachable", "register, after the decision was written, before alias moves", tries,
           "retry completed the recorded moves; nothing decided twice", check_registry(res))


def stack_train(res, c, s, ex):  # type: ignore[no-untyped-def]
    from pipelines.steps.train import step_train
    from pipelines.steps.validate import step_validate

    return step_train(res, c, s, ex, step_validate(res, c, s, ex))


def test_postgres_connections_killed_during_a_two_worker_search(stack, fed, res, cfg):
    import optuna
    import psycopg2

    from pipelines.steps.extract import step_extract
    from pipelines.steps.train import step_train
    from pipelines.steps.validate import step_validate

    c = small(cfg, n_trials=6)
    s = spec(D(2026, 1, 22), n_trials=6, optuna_workers=2)
    ex = step_extract(res, c, s)
    val = step_validate(res, c, s, ex)
    outcome: dict = {}
    db = stack["dbs"].names[2]

    def kill_connections() -> int:
        with psycopg2.connect(PG_ADMIN) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (db,))
            return int(cur.fetchone()[0])

    def search() -> None:
        try:
            outcome["trained"] = step_train(res, c, s, ex, val)
        except Exception as e:  # the first try may die with its connections: the retry below resumes
            outcome["error"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=search)
    t.start()
    killed, deadline = 0, time.monotonic() + 120
    while t.is_alive() and killed < 2 and time.monotonic() < deadline:
        time.sleep(3)
        killed += kill_connections() > 0
    t.join(600)
    tries = 1
    if "trained" not in outcome:
        tries = 2
        outcome["trained"] = step_train(res, c, s, ex, val)
    study = optuna.load_study(study_name=outcome["trained"].study_name, storage=res.optuna_storage)
    done = [x for x in study.trials if x.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert killed >= 1 and len(done) == 6, (killed, len(done), outcome.get("error"), [(x.number, x.state.name, x.user_attrs.get("worker")) for x in study.trials])
    record("Postgres connections terminated (x%d), as a restart does" % killed, "Optuna search, 2 workers on one study", tries,
           "search " + ("survived (reconnected)" if tries == 1 else "failed, retry resumed its trials"), "study holds exactly 6 trials")


KILLER = """
import os, signal, sys, json
from pipelines.contracts import Evaluation, RunSpec
from pipelines.steps.promotion import decide_and_move
from pipelines.resources import Resources
from pipelines.config import load_project
res = Resources.from_env()
cfg = load_project("bankchurn")
calls = []
real = res.registry.set_alias
def set_alias(project, alias, version):
    calls.append(alias)
    if len(calls) == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)   # dies right before this alias write
    real(project, alias, version)
res.registry.set_alias = set_alias
uri = sys.argv[3]
ev = Evaluation.from_json(res.lake.get_json(res.lake.key_of(uri)))
decide_and_move(res, cfg, RunSpec(project="bankchurn", as_of="2026-02-01"), sys.argv[2], "r", uri, ev, lambda c: (_ for _ in ()).throw(SystemExit(3)))
"""


def _candidate(res, cfg, beats: str):  # type: ignore[no-untyped-def]
    """A registered version and an evaluation saying it beats v`beats` (crafted: the registry path is under test)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from tests.unit.domain.test_policy import report

    if not hasattr(_candidate, "uri"):
        run_id = res.registry.start_run("bankchurn", "fault", {})
        model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
        _candidate.uri = res.registry.log_model(run_id, "bankchurn", model, np.array([[0.5]]), res.allowed_model_types)  # type: ignore[attr-defined]
    run_id = res.registry.start_run("bankchurn", "candidate", {})
    v = res.registry.register("bankchurn", _candidate.uri, run_id, {names.AS_OF: "2026-01-31", names.DECISION: "pending",  # type: ignore[attr-defined]
                                                                   names.DECISION_STATE: "pending"})[0]
    ev = report(0.88, 0.85)
    ev = ev.model_copy(update={"champion": ev.champion.model_copy(update={"version": beats})})
    return v, res.lake.put_json(f"faults/eval-v{v}.json", ev.to_json())


@pytest.fixture
def champion_and_previous(res, cfg):
    """A champion and a rollback target (the order-independent start of the registry tests)."""
    from pipelines.contracts import Evaluation
    from pipelines.steps.promotion import decide_and_move

    while not {names.CHAMPION, names.PREVIOUS} <= set(res.registry.aliases("bankchurn")):
        champ = res.registry.aliases("bankchurn").get(names.CHAMPION)
        v, uri = _candidate(res, cfg, champ or "0")
        ev = Evaluation.from_json(res.lake.get_json(res.lake.key_of(uri)))
        if champ is None:
            ev = ev.model_copy(update={"champion": None, "intervals": [], "models": {k: m for k, m in ev.models.items() if k != "champion"}})
        decide_and_move(res, cfg, RunSpec(project="bankchurn", as_of=D(2026, 2, 1)), v, "r", uri, ev, lambda c: (uri, ev))


def test_register_killed_at_each_alias_write_then_retried(stack, res, cfg, champion_and_previous):
    from pipelines.steps.promotion import decide_and_move

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for k in (1, 2):  # before the champion write, before the previous write
        champ = res.registry.aliases("bankchurn").get(names.CHAMPION)
        v, uri = _candidate(res, cfg, champ)
        p = subprocess.run([sys.executable, "-c", KILLER, str(k), v, uri], env=env, capture_output=True, text=True, timeout=180)
        assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
        mid = res.registry.aliases("bankchurn")
        assert mid.get(names.CHAMPION) and mid.get(names.PREVIOUS) != mid.get(names.CHAMPION)  # a rollback target, always
        from pipelines.contracts import Evaluation

        ev = Evaluation.from_json(res.lake.get_json(res.lake.key_of(uri)))
        rec, _, reused = decide_and_move(res, cfg, RunSpec(project="bankchurn", as_of=D(2026, 2, 1)), v, "r", uri, ev,
                                         lambda c: (_ for _ in ()).throw(AssertionError("no rescore")))
        assert reused and res.registry.aliases("bankchurn")[names.CHAMPION] == v
        assert res.registry.aliases("bankchurn")[names.PREVIOUS] == champ
        record("register process SIGKILLed", f"before alias write #{k} ({'champion' if k == 1 else 'previous'})", 2,
               "retry completed the recorded moves; nothing decided twice", check_registry(res))


def _race_register(env: dict, v: str, uri: str, out: str) -> None:
    os.environ.update(env)
    from pipelines.config import load_project
    from pipelines.contracts import Evaluation
    from pipelines.resources import Resources
    from pipelines.steps.promotion import decide_and_move
    from tests.unit.domain.test_policy import report

    res = Resources.from_env()
    cfg = load_project("bankchurn")
    ev = Evaluation.from_json(res.lake.get_json(res.lake.key_of(uri)))

    def rescore(champion):  # the champion moved under us: judged against the new one on the same rows
        e = report(0.88, 0.85)
        e = e.model_copy(update={"champion": e.champion.model_copy(update={"version": champion})})
        return res.lake.put_json(f"faults/eval-v{v}-vs-{champion}.json", e.to_json()), e

    rec, _, _ = decide_and_move(res, cfg, RunSpec(project="bankchurn", as_of=D(2026, 2, 1)), v, "r", uri, ev, rescore)
    Path(out).write_text(rec.model_dump_json())


def _race_rollback(env: dict, out: str) -> None:
    os.environ.update(env)
    from pipelines.config import load_project
    from pipelines.resources import Resources
    from pipelines.steps.operations import rollback

    Path(out).write_text(json.dumps(rollback(Resources.from_env(), load_project("bankchurn"), "race", by="ops")))


def test_register_races_a_cli_rollback_20_times(stack, res, cfg, tmp_path, champion_and_previous):
    ctx = mp.get_context("spawn")
    env = {**stack["env"], "PYTHONPATH": str(REPO)}
    wrong = 0
    with ctx.Pool(2) as pool:
        for i in range(20):
            before = res.registry.aliases("bankchurn")
            c0, p0 = before[names.CHAMPION], before.get(names.PREVIOUS)
            assert p0 and p0 != c0
            v, uri = _candidate(res, cfg, c0)
            a = pool.apply_async(_race_register, (env, v, uri, str(tmp_path / f"reg{i}.json")))
            b = pool.apply_async(_race_rollback, (env, str(tmp_path / f"rb{i}.json")))
            a.get(120), b.get(120)
            rec = DecisionRecord.model_validate_json((tmp_path / f"reg{i}.json").read_text())
            rb = json.loads((tmp_path / f"rb{i}.json").read_text())
            after = res.registry.aliases("bankchurn")
            if rec.champion_before == c0:  # register first: v over c0; then rollback: champion <- c0
                assert rb["from"] == v and after[names.CHAMPION] == c0 and after[names.PREVIOUS] == v
            else:  # rollback first: champion p0; register then judged against p0, not c0
                assert rec.champion_before == p0 and rb["from"] == c0
                assert after[names.CHAMPION] == v and after[names.PREVIOUS] == p0
            wrong += after[names.CHAMPION] not in (c0, v)
            check_registry(res)
    assert wrong == 0
    record("register racing `pipelines rollback` (Postgres advisory lock)", "20 rounds, two processes", 1,
           "every decision made against the champion it saw; one legal order each round", check_registry(res), wrong=wrong)
