"""The fast exact path: JSON straight into the array a scikit-learn model predicts on (or an
XGBoost or LightGBM one: ``servegate.replica.xgboost_native``, ``lightgbm_native``).

MLflow's pyfunc path builds a DataFrame from the request, enforces the signature column by
column, and hands the estimator a DataFrame it turns back into an array — milliseconds for
a microsecond of arithmetic. For the models where the outcome is certain, this path does
the same work once per request with no pandas at all:

- the flavor is scikit-learn, every input a required ``double`` column (or ``long``, beside
  doubles), and there are no params: the request decodes straight into the float64 matrix,
  in signature order, that the estimator would make of pyfunc's frame
  (``servegate.replica.signature_rows``);
- the estimator reads columns by position (scikit-learn's own estimators, no
  ``ColumnTransformer`` or ``FunctionTransformer``, no pandas output) and was fitted on the
  signature's columns in the signature's order, so an array is the same input as the
  DataFrame pyfunc would pass.

For pipelines of scalers and linear models, each of which checks its input finite on entry
and then only computes on it, the path makes those checks itself, one cheap pass per step,
and tells scikit-learn to skip its own (``assume_finite``), a fifth of such a model's predict:
an input a step would refuse takes the pyfunc path, which refuses it as it always has.

Concurrent requests are merged into one predict call only for models whose rows cannot
round differently in company (``ROW_EXACT``). When a model does not qualify,
``compile_fast_path`` says why (the build log shows it). A request the path cannot decode
with certainty (another format, a missing or extra column, a value that is not a JSON
number) returns ``None`` and takes the pyfunc path, as does any request whose prediction
raises, so errors read exactly as they always did.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sklearn
from mlflow.types.schema import DataType
from sklearn.pipeline import Pipeline

from servegate.replica import forest_native, lightgbm_native, xgboost_native
from servegate.replica.model import LoadedModel
from servegate.replica.signature_rows import NUMBERS, SignatureRows, signature_rows

# Estimators that select or rewrite columns by name: an array is not the same input to them.
_NAME_AWARE = {"ColumnTransformer", "FunctionTransformer"}
# Estimators whose answer for a row is the same bits whatever else is in the batch: element-
# wise transforms and tree ensembles (each row walks the trees alone, sums in tree order).
# Anything doing matrix products (linear models, SVMs, neighbours, PCA) may round a row
# differently in a batch than alone, as BLAS picks other kernels, so it is not batched.
ROW_EXACT = {
    "Pipeline",
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "SimpleImputer",
    "Binarizer",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
    "IsolationForest",
}
# Estimators whose methods check their input finite once, on entry, keep it float64, and then
# only compute on it: the path's own check of each step's input is the one they would make.
CHECK_INPUT_ONCE = {
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "LogisticRegression",
    "LinearRegression",
    "Ridge",
    "RidgeClassifier",
    "Lasso",
    "ElasticNet",
    "SGDClassifier",
    "SGDRegressor",
    "LinearSVC",
    "LinearSVR",
}
# Gradient-boosting flavors: their models' own predict, or why not (each module says why it
# is exact).
_BOOSTERS = {
    "xgboost": xgboost_native.native_predict,
    "lightgbm": lightgbm_native.native_predict,
}


@dataclass(frozen=True)
class FastPath:
    rows: SignatureRows
    predict: Callable[[np.ndarray], Any]
    row_exact: bool  # batching cannot change any row's answer (see ``ROW_EXACT``)

    def decode(self, body: bytes) -> np.ndarray | None:
        """The request as a float64 matrix in signature order, or None if not certain."""
        return self.rows.matrix(body)


def compile_fast_path(model: LoadedModel) -> tuple[FastPath | None, str]:
    """The fast path for ``model``, or None and why not."""
    if model.flavor not in ("sklearn", *_BOOSTERS):
        return None, f"the flavor is {model.flavor}, not sklearn, xgboost or lightgbm"
    if model.takes_params:
        return None, "the signature declares params"
    kinds = NUMBERS if model.flavor == "sklearn" else frozenset({DataType.double})
    rows = signature_rows(model.input_schema, kinds)
    if isinstance(rows, str):
        return None, rows
    if len(rows.whole) == len(rows.columns):
        return None, "every input is a long column: the model would be handed integers"
    columns = rows.columns
    estimator = model.pyfunc.get_raw_model()
    if model.flavor in _BOOSTERS:
        native = _BOOSTERS[model.flavor](estimator, columns)
        if isinstance(native, str):
            return None, native
        predict, how = native
        row_exact, detail = True, f"{how}; batched"
    else:
        predict_fn = model.metadata.flavors["python_function"].get("predict_fn", "predict")
        predict = getattr(estimator, predict_fn, None)
        if predict is None:
            return None, f"the estimator has no {predict_fn}"
        fitted_on = getattr(estimator, "feature_names_in_", None)
        if fitted_on is not None and tuple(fitted_on) != columns:
            return None, "the estimator was fitted on other columns than the signature's"
        if reason := _reads_names(estimator):
            return None, reason
        row_exact = all(type(part).__name__ in ROW_EXACT for part in _parts(estimator))
        batching = "batched" if row_exact else "not batched: a batch may round differently"
        transforms, final = _pipeline_steps(estimator)
        checked = _checked_here(transforms, final, predict_fn)
        finite = "; finiteness checked here" if checked else ""
        forest = forest_native.native_predict(final, predict_fn)
        summed = "; trees summed here" if forest else ""
        if checked is not None:
            predict = checked
        elif forest is not None:
            predict = _after(transforms, forest)
        detail = f"{predict_fn}; {batching}{finite}{summed}"
    # Fitted on a DataFrame, scikit-learn's validation (which LightGBM's scikit-learn API uses
    # too) warns on every array; the matrix is in the signature's order, as pyfunc's frame is.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    verdict = f"on ({rows.described}, {detail})"
    return FastPath(rows, predict, row_exact), verdict


def _pipeline_steps(estimator: Any) -> tuple[list[Any], Any]:
    """The steps ``Pipeline.predict`` walks: the transforms (none for an estimator alone),
    then the final estimator."""
    if type(estimator) is not Pipeline:
        return [], estimator
    *transforms, final = [step for _, step in estimator.steps]
    return [step for step in transforms if step is not None and step != "passthrough"], final


def _after(transforms: list[Any], predict: Callable[[np.ndarray], Any]) -> Callable[..., Any]:
    """``predict`` of the rows ``transforms`` make, one after the other."""
    if not transforms:
        return predict
    methods = [step.transform for step in transforms]

    def transformed(rows: np.ndarray) -> Any:
        for method in methods:
            rows = method(rows)
        return predict(rows)

    return transformed


def _checked_here(
    transforms: list[Any], final: Any, predict_fn: str
) -> Callable[[np.ndarray], Any] | None:
    """``final``'s ``predict_fn`` after ``transforms``, as ``Pipeline`` walks them, with every
    step's input checked finite here and scikit-learn's own checks skipped; None unless every
    step is one of ``CHECK_INPUT_ONCE``."""
    if any(type(step).__name__ not in CHECK_INPUT_ONCE for step in [*transforms, final]):
        return None
    methods = [step.transform for step in transforms] + [getattr(final, predict_fn)]

    def predict(rows: np.ndarray) -> Any:
        # scikit-learn's configuration is per thread, and so is this context.
        with sklearn.config_context(assume_finite=True):
            for method in methods:
                if not np.isfinite(rows).all():
                    raise ValueError("not finite: the pyfunc path words the error")
                rows = method(rows)
        return rows

    return predict


def _reads_names(estimator: Any) -> str | None:
    """Why an array is not the same input to ``estimator`` as a DataFrame, or None."""
    for part in _parts(estimator):
        kind = type(part)
        if not kind.__module__.startswith("sklearn."):
            return f"{kind.__name__} is not a scikit-learn estimator"
        if kind.__name__ in _NAME_AWARE:
            return f"{kind.__name__} selects columns by name"
        output = getattr(part, "_sklearn_output_config", {})
        if output.get("transform") not in (None, "default"):
            return f"{kind.__name__} transforms to {output['transform']} frames"
    return None


def _parts(estimator: Any) -> list[Any]:
    """The estimator and, through pipelines, every step inside it."""
    parts = [estimator]
    for _, step in getattr(estimator, "steps", []):
        parts.extend(_parts(step))
    return parts
