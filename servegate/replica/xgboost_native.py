"""The fast exact path for XGBoost's scikit-learn API models (``XGBClassifier``, ...).

MLflow's pyfunc for the xgboost flavor calls ``model.predict(frame, validate_features=True)``.
XGBoost reads the frame's float64 columns and the float64 matrix the fast path decodes alike
(both cast to float32 as they are read), and validates feature names only when the input has
them: handed the matrix in the signature's order, a model fitted on those columns predicts
the same bits, ~10× sooner (a 100-tree classifier, one row: 0.33 against 3.4 ms). A row's
prediction is its walk through the trees, summed in tree order, whatever else is in the call,
so requests are batched.

A raw ``Booster`` is left to pyfunc (MLflow builds a ``DMatrix`` from the frame, names and
all), as are models with categorical features or fitted on other columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def native_predict(
    estimator: Any, columns: tuple[str, ...]
) -> tuple[Callable[[np.ndarray], Any], str] | str:
    """``estimator``'s predict and what the build log calls it, or why not."""
    import xgboost  # loaded already: the model is an xgboost one

    if not isinstance(estimator, xgboost.XGBModel):
        return f"the model is an xgboost {type(estimator).__name__}, not a scikit-learn API model"
    booster = estimator.get_booster()
    if booster.feature_names is not None and tuple(booster.feature_names) != columns:
        return "the model was fitted on other columns than the signature's"
    if "c" in (booster.feature_types or ()):
        return "the model has categorical features"
    return estimator.predict, "xgboost predict"
