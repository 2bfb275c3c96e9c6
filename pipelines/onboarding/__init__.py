"""`python -m pipelines init`, an edge: profile a CSV (`profile.py`), draft a project YAML
(`project.py`) and a GX suite (`suite.py`), import the data.

The drafts are meant to be reviewed in git, not trusted blindly; they are complete enough to run:

* project YAML: task from the target (two values: binary classification with the given positive
  label; numeric with many values: regression), feature types inferred, id-like, constant,
  free-text and date columns dropped with the reason printed, a hash (or time) split, a LightGBM
  search with early stopping and a known-good default trial, non-inferiority promotion rules,
  small categoricals as slices;
* GX suite: the exact column set, types, null fractions, numeric ranges with a margin (value sets
  for small integer codes; counts with a thin tail get a range), categorical value sets, row count
  -- and distribution checks sized for one daily partition (`distribution.py`): every category's,
  code's and flag's share; every numeric column's quantiles, standard deviation floor, share of
  zeros and distinct values (a constant, zeroed, collapsed or rescaled column fails the gate).

May import: pandas, yaml, GX and the layers below the edges. Public names are re-exported here.
"""

from __future__ import annotations

from pipelines.onboarding.distribution import share_bounds
from pipelines.onboarding.profile import ColumnProfile, OnboardingError, default_batch_rows, profile, profile_column
from pipelines.onboarding.project import draft_project, init_project, project_yaml
from pipelines.onboarding.suite import draft_suite, suite_json

__all__ = ["ColumnProfile", "OnboardingError", "default_batch_rows", "draft_project", "draft_suite", "init_project", "profile",
           "profile_column", "project_yaml", "share_bounds", "suite_json"]
