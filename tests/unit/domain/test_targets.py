from __future__ import annotations

import pandas as pd
import pytest

from pipelines.domain.targets import TargetError, encode_target, training_xy


def _cfg(cfg, **changes):
    return cfg.model_copy(update=changes)


def test_string_labels_follow_positive_label(cfg):
    c = _cfg(cfg, target="default", positive_label="Yes")
    df = pd.DataFrame({"default": ["No", "Yes", " Yes", None, "no"]})
    assert encode_target(c, df).tolist() == [0, 1, 1, 0, 0]


def test_numeric_labels_compare_as_numbers(cfg):
    df = pd.DataFrame({"Exited": [0, 1, 1.0, 0.0]})
    assert encode_target(cfg, df).tolist() == [0, 1, 1, 0]
    assert encode_target(_cfg(cfg, positive_label="0"), df).tolist() == [1, 0, 0, 1]


def test_a_wrong_positive_label_is_named_not_trained(cfg):
    df = pd.DataFrame({c: [1.0, 2.0] for c in cfg.input_columns} | {"Exited": ["No", "Yes"]})
    df["Geography"], df["Gender"] = "France", "Male"
    with pytest.raises(TargetError, match="one class only of 'Exited' \\(positive label '1'\\)"):
        training_xy(cfg, df)
    with pytest.raises(TargetError, match=r"lacks column\(s\) \['Age'\]"):
        training_xy(cfg, df.drop(columns=["Age"]))
