"""The fast exact path for LightGBM models: its scikit-learn API (``LGBMClassifier``, ...) and
its ``Booster``.

MLflow's pyfunc for the lightgbm flavor calls ``model.predict(frame)``. LightGBM turns a frame
of float64 columns into the float64 matrix the fast path decodes, and reads columns by
position (it validates names only when asked to, and pyfunc does not ask): handed the matrix
in the signature's order, the model predicts the same bits, several times sooner (a
100-tree regressor, one row: 0.44 against 2.1 ms; a Booster 0.02 against 1.6 ms). A row's
prediction is its walk through the trees, summed in tree order, whatever else is in the call,
so requests are batched.

A model fitted on pandas categorical columns is left to pyfunc: a frame's categories are
mapped to the codes it was fitted on, which an array of numbers is not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def native_predict(
    estimator: Any, columns: tuple[str, ...]
) -> tuple[Callable[[np.ndarray], Any], str] | str:
    """``estimator``'s predict and what the build log calls it, or why not (``columns``: what
    the xgboost flavor checks names against; LightGBM reads by position, as pyfunc's frame is
    laid out)."""
    import lightgbm  # loaded already: the model is a lightgbm one

    if isinstance(estimator, lightgbm.LGBMModel):
        booster = estimator.booster_
    elif isinstance(estimator, lightgbm.Booster):
        booster = estimator
    else:
        return f"the model is a {type(estimator).__name__}, not a LightGBM model"
    if booster.pandas_categorical:
        return "the model was fitted on categorical columns"
    return estimator.predict, f"{type(estimator).__name__} predict"
