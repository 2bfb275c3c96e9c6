"""The shipped suites on the corruption corpus (tests/validation_corpus.py): every break refused,
naming the expectation and its observed value; clean days and the real files accepted. The full
measurement (200 clean days, drifted days, subtle breaks) is `make bench-validation`."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.config import load_project
from pipelines.config.settings import REPO_ROOT
from pipelines.domain.rows import derive_target
from pipelines.domain.validation import run_suite
from tests.conftest import DATA
from tests.validation_corpus import NUMERIC, corpus, day

PROJECTS = ("bankchurn", "telecom", "carvision", "loanrisk")


def _suite(cfg):  # type: ignore[no-untyped-def]
    return REPO_ROOT / "expectations" / cfg.validation.suite


@pytest.mark.parametrize("project", PROJECTS)
def test_every_break_of_the_corpus_is_refused_naming_expectation_and_observed_value(project):
    cfg = load_project(project)
    base = day(cfg, 0)
    breaks = corpus(project)
    assert sum(c.kind == NUMERIC for c in breaks) >= 10
    accepted = []
    for c in breaks:
        out = run_suite(c.apply(base.copy()), _suite(cfg))
        if out.success:
            accepted.append(c.name)
            continue
        first = str(out.failed[0])
        assert first.startswith("expect_") and "observed" in first, first
    assert accepted == []


@pytest.mark.parametrize("project", PROJECTS)
def test_clean_days_pass(project):
    cfg = load_project(project)
    refused = {i: [str(f) for f in out.failed] for i in range(1, 5) if not (out := run_suite(day(cfg, i), _suite(cfg))).success}
    assert refused == {}


@pytest.mark.parametrize(("project", "csv"), [("bankchurn", "Churn_Modelling.csv"), ("telecom", "users_behavior.csv")])
def test_the_real_file_passes_whole_and_as_daily_partitions(project, csv):
    cfg = load_project(project)
    df = derive_target(cfg, pd.read_csv(DATA / csv))[0]
    assert run_suite(df, _suite(cfg)).success
    for part in (df.iloc[:len(df) // 60], df.iloc[-(len(df) // 60):]):
        out = run_suite(part, _suite(cfg))
        assert out.success, [str(f) for f in out.failed]
