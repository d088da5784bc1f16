"""The fast exact path for XGBoost's scikit-learn API models (``XGBClassifier``, ...).

MLflow's pyfunc for the xgboost flavor calls ``model.predict(frame, validate_features=True)``.
XGBoost reads the frame's float64 columns and the float64 matrix the fast path decodes alike
(both cast to float32 as they are read), and validates feature names only when the input has
them: handed the matrix in the signature's order, a model fitted on those columns predicts
the same bits, ~10× sooner (a 100-tree classifier, one row: 0.33 against 3.4 ms). A row's
prediction is its walk through the trees, summed in tree order, whatever else is in the call,
so requests are batched.

For a matrix, the estimator's ``predict`` is its booster's ``inplace_predict`` (trees up to
the best iteration, the model's ``missing``) inside a configuration context, and for a
classifier the probabilities made labels: the path calls the booster itself and makes the
labels as ``predict`` does, ~90 µs sooner a call (a 100-tree classifier, one row: 0.15 against
0.24 ms). At load, rows of noise go through both, and a model whose answer differs in any bit
keeps its own ``predict``.

A raw ``Booster`` is left to pyfunc (MLflow builds a ``DMatrix`` from the frame, names and
all), as are models with categorical features or fitted on other columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from servegate.replica.probe import answers_alike


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
    inplace = _inplace_predict(estimator, booster)
    if inplace is not None and answers_alike(inplace, estimator.predict, len(columns)):
        return inplace, "xgboost inplace predict"
    return estimator.predict, "xgboost predict"


def _inplace_predict(estimator: Any, booster: Any) -> Callable[[np.ndarray], Any] | None:
    """``estimator.predict`` of a matrix made from ``booster.inplace_predict``, or None for a
    model whose ``predict`` does something else (a linear booster, softmax labels, a ranker)."""
    import xgboost

    if getattr(estimator, "booster", None) == "gblinear":
        return None
    try:
        iteration_range = (0, estimator.best_iteration + 1)  # fitted with early stopping
    except AttributeError:
        iteration_range = (0, 0)
    missing = estimator.missing

    def values(rows: np.ndarray) -> np.ndarray:
        return booster.inplace_predict(
            rows, iteration_range=iteration_range, predict_type="value", missing=missing
        )

    if isinstance(estimator, xgboost.XGBRegressor):
        return values
    if not isinstance(estimator, xgboost.XGBClassifier) or estimator.objective == "multi:softmax":
        return None
    if estimator.n_classes_ == 2:
        return lambda rows: (values(rows) > 0.5).astype(np.int64)
    return lambda rows: np.argmax(values(rows), axis=1)
