"""Clean and corrupted daily partitions for every shipped project: the corpus the validation suites
are measured on (tests/unit/steps/test_validation_corpus.py, benchmarks/bench_validation.py).

Clean partitions come from the projects' calibrated feeds exactly as `pipelines feed` writes them (a
day's rows, +-10% around `feed.rows_per_day`, the derived target applied), drifted ones too (real
drift is the drift monitor's to report, not a broken feed). Each corruption turns ONE clean day
into what an upstream bug delivers: the numeric-distribution breaks the suites used to miss (a
constant, all zeros, a rare code become universal, units off by 1,000, a column collapsed onto a few
values, zeros where there were none, an offset) and the kinds they always caught (schema, types,
ranges, value sets, nulls, duplicates, category shares, flag rates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.config import ProjectConfig, load_project
from pipelines.domain.rows import derive_target
from pipelines.domain.synthetic import GENERATORS

DAY0 = dt.date(2026, 3, 1)
NUMERIC = "numeric distribution"
OTHER = "schema, values, shares"


@dataclass(frozen=True)
class Corruption:
    name: str
    kind: str  # NUMERIC or OTHER
    apply: Callable[[pd.DataFrame], pd.DataFrame]


def day(cfg: ProjectConfig, i: int, *, drifted: bool = False, seed: int = 7) -> pd.DataFrame:
    """Clean day `i` of a project's feed, as `pipelines feed` writes it (rows +-10%, derived target)."""
    d = DAY0 + dt.timedelta(days=i)
    rng = np.random.default_rng([seed, d.toordinal()])
    n = max(1, int(round(cfg.feed.rows_per_day * rng.uniform(0.9, 1.1))))
    assert cfg.feed.generator is not None
    return derive_target(cfg, GENERATORS[cfg.feed.generator](d, n, rng, drifted))[0]


def _set(col: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.assign(**{col: value})


def _map(col: str, fn: Callable[[pd.Series], pd.Series]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.assign(**{col: fn(df[col])})


def _half(col: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.assign(**{col: df[col].where(np.arange(len(df)) % 2 == 0, value)})


def _common() -> list[Corruption]:
    return [
        Corruption("a column missing", OTHER, lambda df: df.drop(columns=[df.columns[-2]])),
        Corruption("an unexpected extra column", OTHER, lambda df: df.assign(extra_col=1)),
        Corruption("15 rows: a truncated file", OTHER, lambda df: df.head(15)),
    ]


def _bankchurn() -> list[Corruption]:
    return [
        Corruption("CreditScore constant 650 (a default filled in)", NUMERIC, _set("CreditScore", 650)),
        Corruption("Balance all 0", NUMERIC, _set("Balance", 0.0)),
        Corruption("NumOfProducts all 4", NUMERIC, _set("NumOfProducts", 4)),
        Corruption("NumOfProducts all 1", NUMERIC, _set("NumOfProducts", 1)),
        Corruption("EstimatedSalary in thousands", NUMERIC, _map("EstimatedSalary", lambda s: (s / 1000).round(2))),
        Corruption("Balance in thousands", NUMERIC, _map("Balance", lambda s: (s / 1000).round(2))),
        Corruption("Age constant 40", NUMERIC, _set("Age", 40)),
        Corruption("Tenure all 0", NUMERIC, _set("Tenure", 0.0)),
        Corruption("Balance zeros imputed with the mean", NUMERIC, _map("Balance", lambda s: s.where(s > 0, s[s > 0].mean()))),
        Corruption("EstimatedSalary rounded to 50,000s", NUMERIC, _map("EstimatedSalary", lambda s: (s / 50_000).round() * 50_000)),
        Corruption("EstimatedSalary 0 on half the rows (a join miss)", NUMERIC, _half("EstimatedSalary", 0.0)),
        Corruption("CreditScore rounded to 100s", NUMERIC, _map("CreditScore", lambda s: (s / 100).round().astype("int64") * 100)),
        Corruption("Age 25 years older", NUMERIC, _map("Age", lambda s: s + 25)),
        Corruption("Geography: an unknown country", OTHER, _map("Geography", lambda s: s.where(np.arange(len(s)) % 20 > 0, "Atlantis"))),
        Corruption("Geography: Spain vanished", OTHER, _map("Geography", lambda s: s.replace("Spain", "France"))),
        Corruption("a negative Age", OTHER, _map("Age", lambda s: s.where(np.arange(len(s)) != 3, -5))),
        Corruption("Exited = 2", OTHER, _map("Exited", lambda s: s.where(np.arange(len(s)) != 1, 2))),
        Corruption("duplicated customers", OTHER, lambda df: pd.concat([df, df.head(5)], ignore_index=True)),
        Corruption("CreditScore missing on 1 row in 5", OTHER, _map("CreditScore", lambda s: s.astype(float).where(np.arange(len(s)) % 5 > 0))),
        Corruption("IsActiveMember all 0", OTHER, _set("IsActiveMember", 0)),
        Corruption("Age as text", OTHER, _map("Age", lambda s: s.astype(str) + " years")),
        *_common(),
    ]


def _telecom() -> list[Corruption]:
    return [
        Corruption("calls constant 60", NUMERIC, _set("calls", 60.0)),
        Corruption("minutes all 0", NUMERIC, _set("minutes", 0.0)),
        Corruption("mb_used in GB", NUMERIC, _map("mb_used", lambda s: (s / 1024).round(2))),
        Corruption("messages all 0", NUMERIC, _set("messages", 0.0)),
        Corruption("minutes in hours", NUMERIC, _map("minutes", lambda s: (s / 60).round(2))),
        Corruption("mb_used rounded to 5,000s", NUMERIC, _map("mb_used", lambda s: (s / 5000).round() * 5000)),
        Corruption("calls 0 on half the rows", NUMERIC, _half("calls", 0.0)),
        Corruption("minutes copied from calls", NUMERIC, lambda df: df.assign(minutes=df["calls"])),
        Corruption("mb_used constant", NUMERIC, _set("mb_used", 16000.0)),
        Corruption("calls 150 more", NUMERIC, _map("calls", lambda s: s + 150)),
        Corruption("negative minutes", OTHER, _map("minutes", lambda s: s.where(np.arange(len(s)) != 2, -10.0))),
        Corruption("is_ultra = 3", OTHER, _map("is_ultra", lambda s: s.where(np.arange(len(s)) != 0, 3))),
        Corruption("mb_used missing on 1 row in 4", OTHER, _map("mb_used", lambda s: s.where(np.arange(len(s)) % 4 > 0))),
        Corruption("is_ultra all 1", OTHER, _set("is_ultra", 1)),
        *_common(),
    ]


def _carvision() -> list[Corruption]:
    return [
        Corruption("price all $1 placeholders", NUMERIC, _set("price", 1)),
        Corruption("price in thousands", NUMERIC, _map("price", lambda s: (s // 1000).astype("int64"))),
        Corruption("model_year constant 2018", NUMERIC, _set("model_year", 2018.0)),
        Corruption("odometer all 0", NUMERIC, _set("odometer", 0.0)),
        Corruption("odometer in thousands of miles", NUMERIC, _map("odometer", lambda s: (s / 1000).round())),
        Corruption("odometer rounded to 100,000s", NUMERIC, _map("odometer", lambda s: (s / 100_000).round() * 100_000)),
        Corruption("cylinders all 8", NUMERIC, _map("cylinders", lambda s: s.where(s.isna(), 8.0))),
        Corruption("days_listed constant 0", NUMERIC, _set("days_listed", 0)),
        Corruption("days_listed in hours", NUMERIC, _map("days_listed", lambda s: s * 24)),
        Corruption("price 0 on half the rows", NUMERIC, _half("price", 0)),
        Corruption("model_year replaced by the posting year", NUMERIC, _map("model_year", lambda s: s.where(s.isna(), 2026.0))),
        Corruption("an unknown condition", OTHER, _map("condition", lambda s: s.where(np.arange(len(s)) % 25 > 0, "brand new!!"))),
        Corruption("model_year as two digits", OTHER, _map("model_year", lambda s: s % 100)),
        Corruption("type: SUV vanished", OTHER, _map("type", lambda s: s.replace("SUV", "sedan"))),
        Corruption("date_posted missing", OTHER, _map("date_posted", lambda s: s.where(np.arange(len(s)) % 3 > 0))),
        Corruption("negative odometer", OTHER, _map("odometer", lambda s: s.where(np.arange(len(s)) != 4, -100.0))),
        *_common(),
    ]


def _loanrisk() -> list[Corruption]:
    return [
        Corruption("apr as a fraction", NUMERIC, _map("apr", lambda s: (s / 100).round(4))),
        Corruption("apr constant 590", NUMERIC, _set("apr", 590.0)),
        Corruption("loanAmount all 500", NUMERIC, _set("loanAmount", 500.0)),
        Corruption("nPaidOff all 0", NUMERIC, _set("nPaidOff", 0.0)),
        Corruption("leadCost all 25", NUMERIC, _set("leadCost", 25)),
        Corruption("originallyScheduledPaymentAmount copied from loanAmount", NUMERIC,
                   lambda df: df.assign(originallyScheduledPaymentAmount=df["loanAmount"])),
        Corruption("apr rounded to 100s", NUMERIC, _map("apr", lambda s: (s / 100).round() * 100)),
        Corruption("loanAmount 0 on half the rows", NUMERIC, _half("loanAmount", 0.0)),
        Corruption("loanAmount in thousands", NUMERIC, _map("loanAmount", lambda s: (s / 1000).round(3))),
        Corruption("originallyScheduledPaymentAmount constant", NUMERIC, _set("originallyScheduledPaymentAmount", 1000.0)),
        Corruption("apr 300 points higher", NUMERIC, _map("apr", lambda s: s + 300)),
        Corruption("an unknown payFrequency", OTHER, _map("payFrequency", lambda s: s.where(np.arange(len(s)) % 30 > 0, "Q"))),
        Corruption("duplicated loanIds", OTHER, lambda df: pd.concat([df, df.head(5)], ignore_index=True)),
        Corruption("state: OH vanished", OTHER, _map("state", lambda s: s.replace("OH", "IL"))),
        Corruption("hasCF all 1", OTHER, _set("hasCF", 1)),
        Corruption("negative apr", OTHER, _map("apr", lambda s: s.where(np.arange(len(s)) != 6, -1.0))),
        *_common(),
    ]


# Breaks below what ONE day can show without refusing clean days (reported apart, with the batch size
# they need): a drifted-looking shift of a category, a location or a zero share.
SUBTLE: dict[str, list[Corruption]] = {
    "bankchurn": [Corruption("Spain halved (25% -> 12%)", OTHER, lambda df: df[(df.Geography != "Spain") | (np.arange(len(df)) % 2 == 0)]),
                  Corruption("Age 12 years older", NUMERIC, _map("Age", lambda s: s + 12))],
    "telecom": [Corruption("messages zeros imputed with the mean", NUMERIC, _map("messages", lambda s: s.where(s > 0, round(s[s > 0].mean()))))],
    "carvision": [Corruption("model_year 10 years older", NUMERIC, _map("model_year", lambda s: s - 10))],
    "loanrisk": [Corruption("apr 100 points higher", NUMERIC, _map("apr", lambda s: s + 100)),
                 Corruption("state OH halved", OTHER, lambda df: df[(df.state != "OH") | (np.arange(len(df)) % 2 == 0)])],
}

CORPUS: dict[str, Callable[[], list[Corruption]]] = {"bankchurn": _bankchurn, "telecom": _telecom, "carvision": _carvision,
                                                     "loanrisk": _loanrisk}


def corpus(project: str) -> list[Corruption]:
    return CORPUS[project]()


def project(name: str) -> ProjectConfig:
    return load_project(name)
