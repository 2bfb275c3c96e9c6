"""Write-ahead decisions: a crash at any alias write converges on retry, nothing is decided twice, a
rollback target is never lost, and recorded moves never overwrite an operator's."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pipelines.contracts import RunSpec, names
from pipelines.resources.model_types import ALLOWED_TYPES
from pipelines.steps.operations import rollback
from pipelines.steps.promotion import APPLIED, SUPERSEDED, decide_and_move, latest_record
from tests.unit.domain.test_policy import report

RUN = RunSpec(project="bankchurn", as_of=dt.date(2026, 2, 1))


class Crash(Exception):
    pass


def _register(res) -> str:
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    run_id = res.registry.start_run("bankchurn", "v", {})
    uri = res.registry.log_model(run_id, "bankchurn", model, np.array([[0.5]]), ALLOWED_TYPES)
    return res.registry.register("bankchurn", uri, run_id, {names.AS_OF: "2026-01-01"})[0]


def _no_rescore(champion):
    raise AssertionError(f"no re-score expected (champion {champion})")


def _decide(res, cfg, version, ev, rescore=_no_rescore):
    uri = res.lake.put_json(f"evaluations/v{version}-vs-{ev.champion_version}.json", ev.to_json())
    return decide_and_move(res, cfg, RUN, version, "run", uri, ev, rescore)


@pytest.fixture
def three(res, cfg):
    """v1 promoted (first model), v2 promoted over it: champion v2, previous v1; v3 registered."""
    v1, v2, v3 = _register(res), _register(res), _register(res)
    _decide(res, cfg, v1, report())
    _decide(res, cfg, v2, report(0.86, 0.85).model_copy(update={"champion": report(0.86, 0.85).champion.model_copy(update={"version": v1})}))
    assert res.registry.aliases("bankchurn") == {names.CHAMPION: v2, names.PREVIOUS: v1}
    ev3 = report(0.87, 0.86)
    return v1, v2, v3, ev3.model_copy(update={"champion": ev3.champion.model_copy(update={"version": v2})})


def _crash_after(monkeypatch, res, n):
    real, calls = res.registry.set_alias, []

    def flaky(project, alias, version):
        if len(calls) == n:
            raise Crash(f"killed before alias write #{n + 1}")
        calls.append((alias, version))
        real(project, alias, version)

    monkeypatch.setattr(res.registry, "set_alias", flaky)


@pytest.mark.parametrize("crash_at", [0, 1])
def test_a_crash_at_any_alias_write_converges_on_retry(res, cfg, three, monkeypatch, crash_at):
    v1, v2, v3, ev = three
    _crash_after(monkeypatch, res, crash_at)
    with pytest.raises(Crash):
        _decide(res, cfg, v3, ev)
    rec, attempt = latest_record(res.lake, "bankchurn", v3)
    assert attempt == 1 and rec.decision.decision == "promoted"  # recorded BEFORE any alias moved
    assert res.registry.version("bankchurn", v3).tags[names.DECISION_STATE] == "recorded"
    aliases = res.registry.aliases("bankchurn")
    assert aliases[names.CHAMPION] != aliases[names.PREVIOUS]  # a rollback target that is not the champion, always
    monkeypatch.undo()
    again, _, reused = _decide(res, cfg, v3, ev)
    assert reused and again == rec and latest_record(res.lake, "bankchurn", v3)[1] == 1  # nothing decided twice
    assert res.registry.aliases("bankchurn") == {names.CHAMPION: v3, names.PREVIOUS: v2}
    assert res.registry.version("bankchurn", v3).tags[names.DECISION_STATE] == APPLIED
    assert names.PENDING_MOVES not in res.registry.model_tags("bankchurn")


def test_an_operator_completes_a_crashed_promotion_before_rolling_back(res, cfg, three, monkeypatch):
    v1, v2, v3, ev = three
    _crash_after(monkeypatch, res, 1)  # champion moved to v3, previous not yet
    with pytest.raises(Crash):
        _decide(res, cfg, v3, ev)
    monkeypatch.undo()
    rec = rollback(res, cfg, "bad model", by="ops")
    assert (rec["from"], rec["version"]) == (v3, v2)  # the journaled moves finished first: previous was v2, not v1
    assert res.registry.aliases("bankchurn") == {names.CHAMPION: v2, names.PREVIOUS: v3}
    _, _, reused = _decide(res, cfg, v3, ev)
    assert reused and res.registry.aliases("bankchurn")[names.CHAMPION] == v2  # the retry does not undo the rollback


def test_a_decision_never_committed_is_superseded_when_the_registry_moved(res, cfg, three, monkeypatch):
    v1, v2, v3, ev = three
    monkeypatch.setattr(res.registry, "set_model_tag", lambda *a: (_ for _ in ()).throw(Crash("killed before the journal")))
    with pytest.raises(Crash):
        _decide(res, cfg, v3, ev)
    monkeypatch.undo()
    rollback(res, cfg, "operator", by="ops")  # champion v1, previous v2
    rescored = report(0.87, 0.80)
    rescored = rescored.model_copy(update={"champion": rescored.champion.model_copy(update={"version": v1})})
    uri = res.lake.put_json("evaluations/v3-vs-v1.json", rescored.to_json())
    rec, _, reused = _decide(res, cfg, v3, ev, rescore=lambda champion: (uri, rescored))
    assert not reused and rec.champion_before == v1 and latest_record(res.lake, "bankchurn", v3)[1] == 2
    assert res.registry.aliases("bankchurn") == {names.CHAMPION: v3, names.PREVIOUS: v1}
    assert res.lake.get_json(f"decisions/bankchurn/v{v3}/decision-1.json")["champion_before"] == v2  # the first record stays
    assert res.registry.version("bankchurn", v3).tags[names.DECISION_STATE] == APPLIED != SUPERSEDED


def test_a_rejected_version_becomes_challenger_and_champion_stays(res, cfg, three):
    v1, v2, v3, ev = three
    worse = report(0.80, 0.86, half=0.005)
    worse = worse.model_copy(update={"champion": worse.champion.model_copy(update={"version": v2})})
    rec, _, _ = _decide(res, cfg, v3, worse)
    assert rec.decision.decision == "kept_champion"
    assert res.registry.aliases("bankchurn") == {names.CHAMPION: v2, names.PREVIOUS: v1, names.CHALLENGER: v3}
