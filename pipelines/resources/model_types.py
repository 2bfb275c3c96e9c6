"""The project's own allow-list of the types a saved model may contain, for skops' safe loading.

skops refuses to construct any type that is not trusted; we trust exactly these (plus skops' own
defaults for plain scikit-learn estimators), never the list an artifact carries about itself. A
model holding anything else -- a pickle payload, `os.system` wrapped in a `functools.partial`, an
unknown class -- is refused before it is built. `tests/unit/test_model_types.py` builds every model
family of every shipped project (with calibration and the threshold wrapper) and checks this list
covers them, so it stays complete when a family or transformer is added.
"""

from __future__ import annotations

ALLOWED_TYPES: frozenset[str] = frozenset({
    # our feature-engineering transformers (pipelines/domain/features.py)
    "pipelines.domain.features.RatioFeature",
    "pipelines.domain.features.IsZeroFlag",
    "pipelines.domain.features.VehicleAge",
    "pipelines.domain.features.BrandFromModel",
    "pipelines.domain.features.NativeCategories",
    # LightGBM
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    # scikit-learn internals of calibration, trees and histogram boosting
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
    # the fold splitters CalibratedClassifierCV keeps (plain data: n_splits, shuffle, seed)
    "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.StratifiedKFold",
    # plain containers that scikit-learn objects hold
    "collections.OrderedDict",
    "functools.partial",
    "numpy.dtype",
})
