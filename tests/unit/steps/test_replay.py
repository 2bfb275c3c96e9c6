"""Policy replay on a planted history: versions whose true difference from the champion is known,
decided under the shipped policy, then re-decided under a stricter and a looser one. The flips are the
ones the margins imply; replaying under the shipped policy flips nothing; the registry is untouched."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import yaml

from pipelines.config import ProjectConfigError, with_proposed_policy
from pipelines.contracts import ChampionRef, DecisionRecord, layout, names
from pipelines.domain.evaluate import Candidate, evaluate
from pipelines.domain.policy import decide
from pipelines.domain.replay import StoredScores, replay
from pipelines.domain.synthetic import generate_bankchurn
from pipelines.domain.targets import encode_target
from pipelines.steps.evaluate import store_scores
from pipelines.steps.promotion import record_key
from pipelines.steps.replay import policy_replay, recorded_versions
from tests.conftest import small

# version -> how much worse (AUC-wise, by construction) than the champion its scores are
PLANTED = {"2": 0.0, "3": 0.02, "4": 0.06}


def planted_rows(cfg, seed: int = 0):
    df = generate_bankchurn(dt.date(2026, 2, 1), 6000, np.random.default_rng(seed), False)
    df[layout.ROW_KEY] = df[cfg.id_column].astype(str)
    df[layout.ROW_DATE] = [str(dt.date(2026, 1, 1) + dt.timedelta(days=i % 30)) for i in range(len(df))]
    return df.reset_index(drop=True)


def scores_for(y: np.ndarray, noise: float, rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """A score whose ranking quality falls as `noise` grows (on the same latent as the champion)."""
    z = base + rng.normal(0, noise, len(y))
    return 1 / (1 + np.exp(-z))


def plant_history(lake, cfg) -> dict[str, str]:
    """v1 champion; v2-v4 challengers scored on the same rows, decided under cfg; records in the lake."""
    rows = planted_rows(cfg)
    y = encode_target(cfg, rows)
    rng = np.random.default_rng(1)
    latent = 2.2 * y - 1.6 + rng.normal(0, 1.0, len(y))  # champion AUC ~0.93
    champ = 1 / (1 + np.exp(-latent))
    from sklearn.metrics import roc_auc_score

    outcomes = {}
    base_auc = roc_auc_score(y, champ)
    for v, worse in PLANTED.items():
        noise = 0.0
        for _ in range(60):  # find the noise that costs `worse` AUC
            s = scores_for(y, noise, np.random.default_rng(int(v)), latent)
            if base_auc - roc_auc_score(y, s) >= worse:
                break
            noise += 0.05
        ev, sc = evaluate(cfg, rows, run_id=f"run{v}", as_of=dt.date(2026, 1, 30), data_hash="h", challenger=Candidate(StoredScores(s), 0.3),
                          baseline=Candidate(StoredScores(np.full(len(y), y.mean())), 0.5), champion=Candidate(StoredScores(champ), 0.3, "1"),
                          champion_ref=ChampionRef(version="1", run_id="run1", as_of="2026-01-01", threshold=0.3))
        key = layout.evaluation_key(cfg.name, dt.date(2026, 1, 30), "h", f"run{v}", "1")
        ev = ev.model_copy(update=store_scores(_Res(lake), cfg, key, rows, sc))
        uri, _ = lake.write_json_once(key, ev.to_json())
        d = decide(cfg, ev)
        rec = DecisionRecord(project=cfg.name, version=v, run_id=f"run{v}", as_of=dt.date(2026, 1, 28 + int(v) - 2), evaluation_uri=uri,
                             decision=d, champion_before="1", previous_before=None, moves=[], decided_at="t", promote_allowed=True)
        lake.write_json_once(record_key(cfg.name, v, 1), rec.to_json())
        outcomes[v] = d.decision
    return outcomes


class _Res:
    def __init__(self, lake):
        self.lake = lake


def policy_file(tmp_path, cfg, margin: float, slice_margin: float | None = None):
    """The policy with another overall ROC AUC margin (and, if given, another per-slice margin)."""
    block = cfg.promotion.model_dump(mode="json")
    for t in block["change_thresholds"]:
        if t["slice"] == "overall":
            t["margin"] = margin
        elif slice_margin is not None:
            t["margin"] = slice_margin
    path = tmp_path / f"margin-{margin}-{slice_margin}.yaml"
    path.write_text(yaml.safe_dump({"promotion": block}))
    return path


@pytest.fixture
def history(lake, cfg):
    """bankchurn's policy without its Brier rule: the planted scores lose calibration with ranking,
    and the test is about the AUC margin only."""
    c = small(cfg, resamples=100)
    kept = [t for t in c.promotion.change_thresholds if t.metric == "roc_auc"]
    c = c.model_copy(update={"promotion": c.promotion.model_copy(update={"change_thresholds": kept})})
    return c, plant_history(lake, c)


def test_replay_under_the_same_policy_flips_nothing_stricter_and_looser_flip_the_known_ones(history, lake, tmp_path):
    c, outcomes = history
    assert outcomes == {"2": "promoted", "3": "promoted", "4": "kept_champion"}  # shipped margin 0.035: 0.02 worse still passes
    assert recorded_versions(lake, c.name) == ["2", "3", "4"]
    same = policy_replay(lake, c)
    assert [r.flipped for r in same] == [False, False, False] and {r.basis for r in same} == {"stored scores"}
    strict = policy_replay(lake, with_proposed_policy(c, policy_file(tmp_path, c, 0.005)))
    assert [(r.version, r.recorded, r.replayed) for r in strict if r.flipped] == [("3", "promoted", "kept_champion")]
    assert strict[1].changed == ["change:overall:roc_auc (overall): PASS -> FAIL"]
    loose = policy_replay(lake, with_proposed_policy(c, policy_file(tmp_path, c, 0.1, 0.15)))
    assert [(r.version, r.recorded, r.replayed) for r in loose if r.flipped] == [("4", "kept_champion", "promoted")]
    assert [r.version for r in policy_replay(lake, c, since=dt.date(2026, 1, 29))] == ["3", "4"]


def test_replay_falls_back_to_the_recorded_evaluation_without_stored_scores(cfg):
    c = small(cfg, resamples=100)
    rows = planted_rows(c)
    y = encode_target(c, rows)
    s = 1 / (1 + np.exp(-(2.2 * y - 1.6 + np.random.default_rng(5).normal(0, 1.0, len(y)))))
    ev, _ = evaluate(c, rows, run_id="r", as_of=dt.date(2026, 1, 30), data_hash="h", challenger=Candidate(StoredScores(s), 0.3),
                     baseline=Candidate(StoredScores(np.full(len(y), y.mean())), 0.5), champion=Candidate(StoredScores(s), 0.3, "1"))
    r = replay(c, "9", decide(c, ev), ev, None)
    assert r.basis == "recorded evaluation" and not r.flipped


def test_the_cli_lists_flips_writes_the_report_and_leaves_the_registry_alone(history, res, lake, tmp_path, capsys, monkeypatch, settings):
    from pipelines.cli import main
    from tests.unit.serving.test_serving import register

    c, _ = history
    v = register(res, c, 1.0, 1, 0.35)
    res.registry.set_alias(c.name, names.CHAMPION, v)
    before = res.registry.snapshot(c.name)
    monkeypatch.setattr("pipelines.cli.registry.project_of", lambda s, p: c)
    report = tmp_path / "replay.md"
    assert main(["policy", "replay", "bankchurn", "--policy", str(policy_file(tmp_path, c, 0.005)), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "3 recorded decisions re-decided" in out and "1 flip" in out and "v3 as of 2026-01-29: promoted -> kept_champion" in out
    assert "**1 flip**" in report.read_text() and "| v3 |" in report.read_text()
    assert res.registry.snapshot(c.name) == before


def test_a_bad_policy_file_names_the_field(cfg, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"promotion": {"value_thresholds": [], "change_thresholds": [{"metric": "roc_auc", "mode": "superiority"}]}}))
    with pytest.raises(ProjectConfigError, match="promotion.value_thresholds"):
        with_proposed_policy(cfg, bad)
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ProjectConfigError, match="must hold a promotion block"):
        with_proposed_policy(cfg, tmp_path / "list.yaml")
    with pytest.raises(ProjectConfigError, match="policy file not found"):
        with_proposed_policy(cfg, tmp_path / "nope.yaml")
