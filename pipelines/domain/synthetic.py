"""Synthetic feeds calibrated to each project's public dataset, so the main job runs anywhere.

Each generator makes one day of rows with the project's raw schema; `drifted` shifts distributions
(and, for bankchurn, the label relationship) so the drift loop has something to find. A new
generator is a function here plus one entry in `GENERATORS` (named by a project's `feed.generator`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd

_DAY0 = dt.date(2000, 1, 1)


# --------------------------------------------------------------------------- bankchurn generator
# Churn model: a logistic regression fitted on data/Churn_Modelling.csv (5-fold CV ROC AUC
# 0.851 there); marginals below are that file's: 50/25/25 France/Germany/Spain, 54.6% male,
# Age 18 + Gamma(3.97, 5.26) (median 37), 36% zero balances (none in Germany), products
# 1/2/3/4 = 50.8/45.9/2.7/0.6%, 9.1% missing Tenure. The label is drawn from the model, so
# the best achievable ROC AUC is that of the real data.
_CHURN_COEF = {
    "intercept": -2.01,
    "age": 1.15,
    "age2": 0.156,
    "age3": -0.2,
    "germany": 0.926,
    "spain": 0.043,
    "female": 0.531,
    "inactive": 0.9,
    "p2": -1.515,
    "p3": 2.582,
    "p4": 5.337,
    "balance": -0.066,
    "credit": -0.055,
    "inactive_age": 0.634,
    "card": -0.055,
    "salary": 0.04,
}
_SURNAMES = np.array(
    ["Smith", "Hill", "Onio", "Boni", "Mitchell", "Chu", "Bartlett", "Obinna", "He", "Scott",
     "Goforth", "Romeo", "Henderson", "Muldrow", "Hao", "McDonald", "Kay", "Chin", "Lombardo", "Yen"]
)


def generate_bankchurn(day: dt.date, n: int, rng: np.random.Generator, drifted: bool, concept_shift: bool = False) -> pd.DataFrame:
    """One day of bank customers. `drifted`: older customers, more Germany, larger balances, more new
    customers, fewer active members (four of ten features move enough to cross the 0.3 drift share), and
    the churn relationship moves too: Germany no longer raises churn, very large balances do, and
    inactive members now churn less than active ones -- so
    a model trained before the drift ranks worse after it and a retrain on recent data pays off.
    `concept_shift`: that change of the churn relationship, and churn falling with age instead of
    rising, with the features' distributions untouched (the same random draws): what input-drift
    checks cannot see."""
    geo_p = [0.40, 0.40, 0.20] if drifted else [0.5014, 0.2509, 0.2477]
    geography = rng.choice(np.array(["France", "Germany", "Spain"]), size=n, p=geo_p)
    gender = rng.choice(np.array(["Male", "Female"]), size=n, p=[0.5457, 0.4543])
    age = 18 + rng.gamma(3.97, 5.26, size=n) + (9.0 if drifted else 0.0)
    age = np.clip(np.round(age), 18, 92).astype("int64")
    credit = np.clip(np.round(rng.normal(650.5, 96.7, size=n)), 350, 850).astype("int64")
    tenure_p = np.array([0.042, 0.1047, 0.1045, 0.1021, 0.0973, 0.102, 0.0969, 0.1017, 0.1026, 0.097, 0.0491])
    if drifted:  # a wave of new customers: tenure 0-2 years far more common
        tenure_p[:3] *= 3.5
    tenure = rng.choice(np.arange(11), size=n, p=tenure_p / tenure_p.sum()).astype("float64")
    tenure[rng.random(n) < 0.0909] = np.nan
    zero_bal = (rng.random(n) < 0.483) & (geography != "Germany")
    balance = np.where(zero_bal, 0.0, np.clip(rng.normal(119827.5 + (45000.0 if drifted else 0.0), 30095.0, size=n), 3768.69, 250898.09)).round(2)
    products = rng.choice(np.array([1, 2, 3, 4]), size=n, p=[0.5084, 0.459, 0.0266, 0.006]).astype("int64")
    card = (rng.random(n) < 0.7055).astype("int64")
    active = (rng.random(n) < (0.40 if drifted else 0.5151)).astype("int64")
    salary = rng.uniform(11.58, 199992.48, size=n).round(2)

    c = _CHURN_COEF
    a = (age - 40) / 10
    logit = (
        c["intercept"] + c["age"] * a + c["age2"] * a**2 + c["age3"] * a**3
        + c["germany"] * (geography == "Germany") + c["spain"] * (geography == "Spain")
        + c["female"] * (gender == "Female") + c["inactive"] * (1 - active)
        + c["p2"] * (products == 2) + c["p3"] * (products == 3) + c["p4"] * (products == 4)
        + c["balance"] * balance / 1e5 + c["credit"] * (credit - 650) / 100
        + c["inactive_age"] * (1 - active) * a + c["card"] * card + c["salary"] * salary / 1e5
    )
    if drifted or concept_shift:
        logit = logit - c["germany"] * (geography == "Germany") + 1.6 * (balance > 160000) - 1.8 * (1 - active) - 0.1
    if concept_shift:  # and the strongest dependence turns around: churn now falls with age (+1.2: the ~20% rate kept)
        age_terms = c["age"] * a + c["age2"] * a**2 + c["age3"] * a**3
        logit = logit - 2 * age_terms + 2 * float(np.mean(age_terms)) + 1.2
    exited = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    day_index = (day - _DAY0).days
    ids = day_index * 1_000_000 + np.arange(1, n + 1, dtype="int64")
    return pd.DataFrame(
        {
            "RowNumber": np.arange(1, n + 1, dtype="int64"),
            "CustomerId": ids,
            "Surname": rng.choice(_SURNAMES, size=n),
            "CreditScore": credit,
            "Geography": geography,
            "Gender": gender,
            "Age": age,
            "Tenure": tenure,
            "Balance": balance,
            "NumOfProducts": products,
            "HasCrCard": card,
            "IsActiveMember": active,
            "EstimatedSalary": salary,
            "Exited": exited,
        }
    )


# ----------------------------------------------------------------------------- telecom generator
# Class-conditional Gaussian in log1p space, fitted per plan on data/users_behavior.csv
# (30.6% Ultra; Ultra users' usage is far more spread out), sampled within the public ranges.
# Generated data: LightGBM 5-fold ROC AUC 0.80 (real file: 0.82); means within ~10% of the real ones.
_TEL_MU = {0: [3.9371, 5.8367, 2.9214, 9.5841], 1: [3.9744, 5.8069, 3.0404, 9.5917]}
_TEL_COV = {
    0: [[0.43116, 0.48274, 0.16282, 0.19788], [0.48274, 0.56876, 0.17207, 0.20731],
        [0.16282, 0.17207, 2.0118, 0.16465], [0.19788, 0.20731, 0.16465, 0.37685]],
    1: [[1.1881, 1.5208, 0.04115, 0.23944], [1.5208, 2.0185, 0.00266, 0.26021],
        [0.04115, 0.00266, 2.98639, 0.19982], [0.23944, 0.26021, 0.19982, 1.55695]],
}
_TEL_MAX = np.log1p([250.0, 1700.0, 230.0, 50000.0])


def generate_telecom(day: dt.date, n: int, rng: np.random.Generator, drifted: bool) -> pd.DataFrame:
    """One day of monthly usage per subscriber. `drifted`: heavier data use, fewer calls (+30% MB, -25% calls)."""
    y = (rng.random(n) < 0.3065).astype("int64")
    logs = np.zeros((n, 4))
    for k in (0, 1):
        idx = np.flatnonzero(y == k)
        got: list[np.ndarray] = []
        need = len(idx)
        while need > 0:  # rejection sampling keeps values inside the public ranges
            s = rng.multivariate_normal(_TEL_MU[k], _TEL_COV[k], size=2 * need)
            s = s[(s <= _TEL_MAX).all(axis=1)][:need]
            got.append(s)
            need -= len(s)
        if got:
            logs[idx] = np.vstack(got)
    x = np.expm1(np.clip(logs, 0, None))
    if drifted:
        x[:, 0] *= 0.75
        x[:, 1] *= 0.75
        x[:, 3] = np.minimum(x[:, 3] * 1.3, 60000)
    return pd.DataFrame({"calls": x[:, 0].round(), "minutes": x[:, 1].round(2), "messages": x[:, 2].round(),
                         "mb_used": x[:, 3].round(2), "is_ultra": y})


# ----------------------------------------------------------------------------- carvision generator
# Used-car listings (schema of the public vehicles_us listings: 51k rows, May 2018 - Apr 2019). No
# copy of that file is here, so the generator encodes its shape: brand from model, depreciation
# with age and mileage, condition effects, a heavy right tail of prices plus junk listings (e.g.
# $1) that the cleaning filters remove, and missing values where the public data has them.
_CAR_MODELS = [  # model, type, base price (new), typical cylinders
    ("ford f-150", "truck", 34000, 8), ("chevrolet silverado 1500", "truck", 35000, 8), ("ram 1500", "pickup", 36000, 8),
    ("toyota tacoma", "pickup", 30000, 6), ("gmc sierra 1500", "truck", 38000, 8), ("toyota camry", "sedan", 25000, 4),
    ("honda accord", "sedan", 25000, 4), ("nissan altima", "sedan", 23000, 4), ("honda civic", "sedan", 21000, 4),
    ("hyundai elantra", "sedan", 19000, 4), ("ford explorer", "SUV", 34000, 6), ("jeep wrangler", "SUV", 31000, 6),
    ("chevrolet equinox", "SUV", 26000, 4), ("toyota rav4", "SUV", 27000, 4), ("bmw x5", "SUV", 58000, 6),
    ("subaru outback", "wagon", 28000, 4), ("ford mustang", "coupe", 30000, 8), ("kia soul", "hatchback", 18000, 4),
    ("dodge grand caravan", "minivan", 27000, 6), ("chrysler town & country", "van", 30000, 6),
]
_CONDITIONS = np.array(["new", "like new", "excellent", "good", "fair", "salvage"])
_COND_FACTOR = {"new": 1.12, "like new": 1.05, "excellent": 1.0, "good": 0.86, "fair": 0.6, "salvage": 0.35}
_COLORS = np.array(["white", "black", "silver", "grey", "blue", "red", "green", "brown", "custom", "yellow", "orange", "purple"])


def generate_carvision(day: dt.date, n: int, rng: np.random.Generator, drifted: bool) -> pd.DataFrame:
    """One day of listings. `drifted`: older cars, more trucks, prices up 10% (a hot used-car market)."""
    idx = rng.integers(0, len(_CAR_MODELS), n)
    if drifted:
        trucks = [i for i, m in enumerate(_CAR_MODELS) if m[1] in ("truck", "pickup")]
        swap = rng.random(n) < 0.25
        idx[swap] = rng.choice(trucks, swap.sum())
    model = np.array([_CAR_MODELS[i][0] for i in idx], dtype=object)
    ctype = np.array([_CAR_MODELS[i][1] for i in idx], dtype=object)
    base = np.array([_CAR_MODELS[i][2] for i in idx], dtype=float)
    cyl = np.array([_CAR_MODELS[i][3] for i in idx], dtype=float)
    age = np.clip(rng.gamma(2.2, 3.4, n) + (2.0 if drifted else 0.0), 0, 35)
    model_year = np.clip(np.round(day.year - age), 1960, day.year).astype(float)
    age = day.year - model_year + rng.random(n) * 0.9
    odometer = np.round(np.clip(age * 12000 * rng.lognormal(0, 0.35, n) + rng.normal(0, 3000, n), 0, 990000))
    cond_p = np.where(age[:, None] < 2, [0.08, 0.35, 0.45, 0.11, 0.01, 0.0], np.where(age[:, None] < 8, [0.0, 0.1, 0.55, 0.32, 0.025, 0.005],
                      [0.0, 0.04, 0.38, 0.5, 0.07, 0.01]))
    condition = np.array([rng.choice(_CONDITIONS, p=p / p.sum()) for p in cond_p], dtype=object)
    fuel = rng.choice(np.array(["gas", "diesel", "hybrid", "electric", "other"], dtype=object), n, p=[0.915, 0.072, 0.008, 0.001, 0.004])
    fuel[(ctype != "truck") & (ctype != "pickup") & (fuel == "diesel")] = "gas"
    transmission = rng.choice(np.array(["automatic", "manual", "other"], dtype=object), n, p=[0.91, 0.055, 0.035])
    four_wd = np.where(np.isin(ctype, ["truck", "pickup", "SUV", "wagon"]), rng.random(n) < 0.8, rng.random(n) < 0.05)
    cond_f = np.array([_COND_FACTOR[c] for c in condition])
    price = (base * 0.86 ** np.clip(age, 0, None) * cond_f * np.exp(-odometer / 350000) * np.where(fuel == "diesel", 1.2, 1.0)
             * np.where(four_wd, 1.08, 1.0) * rng.lognormal(0, 0.25, n) * (1.1 if drifted else 1.0) * 1.3)
    price = np.maximum(np.round(price / 50) * 50, 500)
    junk = rng.random(n) < 0.02  # $1 placeholders and typos, as in real listings
    price[junk] = rng.choice([1, 10, 100, 999], junk.sum())
    df = pd.DataFrame({
        "price": price.astype("int64"),
        "model_year": np.where(rng.random(n) < 0.07, np.nan, model_year),
        "model": model,
        "condition": condition,
        "cylinders": np.where(rng.random(n) < 0.10, np.nan, cyl),
        "fuel": fuel,
        "odometer": np.where(rng.random(n) < 0.15, np.nan, odometer),
        "transmission": transmission,
        "type": ctype,
        "paint_color": np.where(rng.random(n) < 0.18, None, rng.choice(_COLORS, n)).astype(object),
        "is_4wd": np.where(four_wd, 1.0, np.nan),
        "date_posted": pd.Timestamp(day).strftime("%Y-%m-%d"),
        "days_listed": rng.gamma(1.6, 25, n).round().astype("int64"),
    })
    return df


# ----------------------------------------------------------------------------- loanrisk generator
# Loan applications (schema of the public MoneyLion loan data). About a third of applications are
# funded; the rest are withdrawn, rejected or voided (excluded from the target, counted). Among
# funded loans with a final outcome ~30% go bad; risk rises with APR, first-time borrowers, weekly
# pay, lead-bought applications and larger amounts relative to income proxies.
_STATES = np.array(["OH", "IL", "TX", "MO", "IN", "WI", "CA", "NJ", "VA", "UT", "FL", "SC", "TN", "NV", "AL", "MI"], dtype=object)
_STATE_P = np.array([0.16, 0.11, 0.1, 0.07, 0.07, 0.06, 0.06, 0.05, 0.05, 0.04, 0.05, 0.04, 0.04, 0.03, 0.03, 0.04])
_STATE_RISK = dict(zip(_STATES, [0.0, 0.1, 0.2, 0.15, 0.0, -0.1, 0.1, -0.05, 0.05, -0.15, 0.2, 0.1, 0.05, 0.25, 0.15, 0.0]))
_LEADS = np.array(["bvMandatory", "lead", "organic", "prescreen", "rc_returning", "express", "repeat", "instant-offer"], dtype=object)
_LEAD_P = np.array([0.4, 0.25, 0.1, 0.06, 0.08, 0.04, 0.05, 0.02])
_LEAD_RISK = dict(zip(_LEADS, [0.3, 0.5, -0.2, -0.1, -0.5, 0.1, -0.6, 0.0]))
_LEAD_COST = dict(zip(_LEADS, [6, 25, 0, 3, 0, 0, 0, 0]))
_BAD = np.array(["External Collection", "Internal Collection", "Charged Off", "Charged Off Paid Off", "Settled Bankruptcy"], dtype=object)


def generate_loanrisk(day: dt.date, n: int, rng: np.random.Generator, drifted: bool) -> pd.DataFrame:
    """One day of applications. `drifted`: more lead-bought applications and higher APRs."""
    lead_p = _LEAD_P.copy()
    if drifted:
        lead_p[1] += 0.15
        lead_p /= lead_p.sum()
    lead = rng.choice(_LEADS, n, p=lead_p)
    state = rng.choice(_STATES, n, p=_STATE_P / _STATE_P.sum())
    freq = rng.choice(np.array(["B", "I", "M", "S", "W"], dtype=object), n, p=[0.45, 0.04, 0.06, 0.12, 0.33])
    n_paid = np.minimum(rng.poisson(0.6, n), 20)
    apr = np.clip(rng.normal(550 if not drifted else 590, 110, n) - 40 * n_paid, 0, 705).round(2)
    amount = np.clip(np.round(rng.lognormal(6.3, 0.45, n) / 25) * 25, 100, 5000)
    scheduled = (amount * (1 + apr / 100 * rng.uniform(0.3, 0.6, n))).round(2)
    has_cf = (rng.random(n) < 0.7).astype("int64")
    funded = rng.random(n) < np.clip(0.35 + 0.05 * n_paid, 0, 0.9)
    risk = (-0.85 + 0.004 * (apr - 550) - 0.45 * n_paid + np.array([_LEAD_RISK[x] for x in lead])
            + np.array([_STATE_RISK[x] for x in state]) + np.where(freq == "W", 0.35, np.where(freq == "M", -0.2, 0.0))
            + 0.35 * np.log(amount / 500) - 0.3 * has_cf)
    bad = rng.random(n) < 1 / (1 + np.exp(-risk))
    status = np.where(funded, np.where(bad, rng.choice(_BAD, n, p=[0.45, 0.15, 0.2, 0.1, 0.1]),
                                       rng.choice(np.array(["Paid Off Loan", "Settlement Paid Off", "New Loan"], dtype=object), n,
                                                  p=[0.78, 0.07, 0.15])),
                      rng.choice(np.array(["Withdrawn Application", "Rejected", "Voided New Loan"], dtype=object), n, p=[0.55, 0.35, 0.10]))
    app = pd.Timestamp(day) + pd.to_timedelta(rng.integers(0, 86400, n), unit="s")
    orig_date = app + pd.to_timedelta(rng.integers(3600, 3 * 86400, n), unit="s")
    day_index = (day - _DAY0).days
    ids = np.array([f"LL-i-{day_index:05d}{i:06d}" for i in range(n)], dtype=object)
    return pd.DataFrame({
        "loanId": ids,
        "anon_ssn": np.array([f"{h:032x}" for h in rng.integers(0, 2**62, n)], dtype=object),
        "payFrequency": freq,
        "apr": apr,
        "applicationDate": app,
        "originated": funded,
        "originatedDate": pd.Series(orig_date).where(funded),
        "nPaidOff": n_paid.astype("float64"),
        "approved": funded,
        "isFunded": funded.astype("int64"),
        "loanStatus": status,
        "loanAmount": amount,
        "originallyScheduledPaymentAmount": scheduled,
        "state": state,
        "leadType": lead,
        "leadCost": np.array([_LEAD_COST[x] for x in lead], dtype="int64"),
        "fpStatus": np.where(funded, rng.choice(np.array(["Checked", "Rejected", "Skipped"], dtype=object), n, p=[0.85, 0.1, 0.05]), None),
        "clarityFraudId": np.array([f"{h:024x}" for h in rng.integers(0, 2**62, n)], dtype=object),
        "hasCF": has_cf,
    })


Generator = Callable[[dt.date, int, np.random.Generator, bool], pd.DataFrame]
# Generators that can plant a concept shift (`concept_shift=True`: labels change, features do not).
CONCEPT_SHIFT = frozenset({"bankchurn"})
GENERATORS: dict[str, Generator] = {"bankchurn": generate_bankchurn, "telecom": generate_telecom, "carvision": generate_carvision,
                                     "loanrisk": generate_loanrisk}
