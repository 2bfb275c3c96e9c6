from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from pipelines.config import FEATURE_TRANSFORMERS, ProjectConfigError, load_project, load_project_file, project_names
from pipelines.config.settings import REPO_ROOT

BANK = REPO_ROOT / "pipelines" / "projects" / "bankchurn.yaml"


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(BANK.read_text())
    mutate(raw)
    p = tmp_path / "bankchurn.yaml"
    p.write_text(yaml.safe_dump(raw))
    return p


def test_bankchurn_loads_with_expected_fields():
    cfg = load_project("bankchurn")
    assert cfg.target == "Exited" and cfg.id_column == "CustomerId"
    assert set(cfg.search.families) == {"lightgbm"} and cfg.search.defaults["lightgbm"]["num_leaves"] == 8
    assert "Geography" in cfg.categorical_features and "Age" in cfg.numeric_features
    assert cfg.dag_id == "bankchurn_training"
    assert "bankchurn" in project_names()


def test_window_ends_the_day_before_the_as_of_date():
    cfg = load_project("bankchurn")
    first, last = cfg.window(dt.date(2026, 3, 1), 10)
    assert (first, last) == (dt.date(2026, 2, 19), dt.date(2026, 2, 28))


@pytest.mark.parametrize(
    ("mutate", "field", "why"),
    [
        (lambda r: r.pop("target"), "target", "Field required"),
        (lambda r: r["search"]["families"].update({"xgboost": {}}), "search.families", "unknown model family"),
        (lambda r: r["search"]["families"]["lightgbm"].update({"num_leaves": {"type": "int", "low": 9, "high": 3}}),
         "num_leaves", "low (9) must be < high (3)"),
        (lambda r: r["slices"].update({"categorical": ["Surname"]}), "(top level)", "not features"),
        (lambda r: r["numeric_features"].append("Exited"), "(top level)", "leakage"),
        (lambda r: r["feature_engineering"].append({"transformer": "magic"}), "feature_engineering", "unknown transformer"),
        (lambda r: r["split"].update({"test_fraction": 1.5}), "split.test_fraction", "less than 0.9"),
        (lambda r: r.update({"surprise": 1}), "surprise", "Extra inputs are not permitted"),
        (lambda r: r["promotion"].update({"value_thresholds": [{"metric": "auc", "lower": 0.7}]}), "promotion.value_thresholds", "unknown metric"),
        (lambda r: r["slices"]["numeric_bands"][0].update({"edges": [50, 30]}), "edges", "strictly increasing"),
        (lambda r: r["threshold"].update({"strategy": "fixed"}), "threshold", "needs a value"),
        (lambda r: r["promotion"]["change_thresholds"][0].update({"metric": "roc_acu"}), "promotion.change_thresholds.0.metric",
         "unknown metric 'roc_acu'"),
        (lambda r: r["promotion"]["change_thresholds"][0].pop("margin"), "promotion.change_thresholds.0", "needs a margin"),
        (lambda r: r["promotion"]["change_thresholds"].append({"metric": "f1", "mode": "point"}), "promotion.change_thresholds.3",
         "needs absolute and/or relative"),
        (lambda r: r["search"].update({"n_trials": 5000}), "search.n_trials", "less than or equal to 2000"),
        (lambda r: r["search"]["defaults"]["lightgbm"].update({"max_depth": 3}), "search", "not in its search space"),
        (lambda r: r["split"].update({"strategy": "random"}), "split.strategy", "'hash' or 'time'"),
    ],
)
def test_bad_yaml_names_the_field_and_why(tmp_path, mutate, field, why):
    with pytest.raises(ProjectConfigError) as e:
        load_project_file(_write(tmp_path, mutate))
    msg = str(e.value)
    assert field in msg and why in msg, msg


def test_name_must_match_file(tmp_path):
    with pytest.raises(ProjectConfigError, match="must match the file name"):
        load_project_file(_write(tmp_path, lambda r: r.update({"name": "other"})))


def test_invalid_yaml_and_non_mapping(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("name: [unclosed")
    with pytest.raises(ProjectConfigError, match="not valid YAML"):
        load_project_file(p)
    p.write_text("- a list\n")
    with pytest.raises(ProjectConfigError, match="must hold a mapping"):
        load_project_file(p)


def test_unknown_project_lists_known_ones():
    with pytest.raises(ProjectConfigError, match=r"unknown project 'nope'.*bankchurn"):
        load_project("nope")


def test_transformer_names_match_registry():
    from pipelines.domain.features import TRANSFORMERS

    assert set(TRANSFORMERS) == set(FEATURE_TRANSFORMERS)


def test_leakage_guard_refuses_target_derived_features(tmp_path):
    raw = yaml.safe_load((REPO_ROOT / "pipelines" / "projects" / "carvision.yaml").read_text())
    raw["numeric_features"].append("price_per_mile")
    p = tmp_path / "carvision.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProjectConfigError, match=r"derived from the target 'price' are refused \(leakage\).*price_per_mile"):
        load_project_file(p)
    raw["numeric_features"].remove("price_per_mile")
    raw["feature_engineering"].append({"transformer": "ratio", "params": {"name": "ppm", "numerator": "price", "denominator": "odometer"}})
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProjectConfigError, match="leakage"):
        load_project_file(p)


def test_all_four_projects_load():
    assert {"bankchurn", "telecom", "carvision", "loanrisk"} <= set(project_names())
    for name in ("bankchurn", "telecom", "carvision", "loanrisk"):
        load_project(name)


def test_cost_model_needs_exactly_one_amount(tmp_path):
    raw = yaml.safe_load((REPO_ROOT / "pipelines" / "projects" / "loanrisk.yaml").read_text())
    raw["threshold"]["cost"]["amount"] = 500
    p = tmp_path / "loanrisk.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProjectConfigError, match="exactly one of amount"):
        load_project_file(p)


def test_shipped_gates_decide_by_interval():
    for name in ("bankchurn", "telecom", "carvision", "loanrisk"):
        cfg = load_project(name)
        assert cfg.promotion.change_thresholds and all(t.mode == "non_inferiority" for t in cfg.promotion.change_thresholds), name


def test_optional_slices_match_names_and_patterns():
    from pipelines.config import SliceConfig

    s = SliceConfig(optional=["Age=*", "Geography=Spain"])
    assert s.is_optional("Age=[60,100)") and s.is_optional("Geography=Spain") and not s.is_optional("Geography=France")
