"""The benchmark's models: a scaled logistic regression and a 100-tree random forest on
scikit-learn's breast-cancer data (30 float features), and on request a 100-tree XGBoost
classifier, a 100-tree LightGBM classifier and the logistic regression inside a custom pyfunc
model (``pyfunc``: what the fast path does not take), registered in a local MLflow registry."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from types import ModuleType

import cloudpickle
import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class BenchModel:
    name: str
    uri: str

    def body(self, rows: int) -> bytes:
        """A ``dataframe_split`` request of the first ``rows`` rows."""
        features = load_breast_cancer(as_frame=True).data.head(rows)
        return json.dumps(
            {"dataframe_split": json.loads(features.to_json(orient="split"))}
        ).encode()


def register_models(names: tuple[str, ...] = ("logreg", "forest")) -> dict[str, BenchModel]:
    """Train and register the named models into the current MLflow tracking URI."""
    features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
    registered = {}
    if "xgboost" in names:
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=100, max_depth=4, random_state=0, n_jobs=1)
        model.fit(features, labels)
        registered["xgboost"] = _register_boosted("xgboost", mlflow.xgboost, model, features)
    if "lightgbm" in names:
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=100, random_state=0, n_jobs=1, verbose=-1)
        model.fit(features, labels)
        registered["lightgbm"] = _register_boosted("lightgbm", mlflow.lightgbm, model, features)
    if "pyfunc" in names:
        registered["pyfunc"] = _register_wrapped(features, labels)
    logreg = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=5000))])
    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
    for name, estimator, extra in (
        ("logreg", logreg, {}),
        ("forest", forest, {"skops_trusted_types": _forest_types()}),
    ):
        if name not in names:
            continue
        estimator.fit(features, labels)
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            input_example=features.head(2),
            registered_model_name=f"bench-{name}",
            **extra,
        )
        registered[name] = BenchModel(name, f"models:/bench-{name}/{info.registered_model_version}")
    return registered


def _register_boosted(
    name: str, flavor: ModuleType, model: object, features: pd.DataFrame
) -> BenchModel:
    """A fitted XGBoost or LightGBM model, logged by its own MLflow flavor."""
    info = flavor.log_model(
        model,
        name="model",
        input_example=features.head(2),
        registered_model_name=f"bench-{name}",
    )
    return BenchModel(name, f"models:/bench-{name}/{info.registered_model_version}")


class WrappedPipeline(mlflow.pyfunc.PythonModel):
    """What many teams log: their own pyfunc model around a fitted pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def predict(self, context: object, model_input: pd.DataFrame, params: object = None) -> object:
        return self.pipeline.predict(model_input)


def _register_wrapped(features: pd.DataFrame, labels: pd.Series) -> BenchModel:
    # Pickle the class itself, so a server started from any folder can load it.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=5000))]
    )
    pipeline.fit(features, labels)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=WrappedPipeline(pipeline),
        signature=infer_signature(features.head(2), pipeline.predict(features.head(2))),
        registered_model_name="bench-pyfunc",
    )
    return BenchModel("pyfunc", f"models:/bench-pyfunc/{info.registered_model_version}")


def _forest_types() -> list[str]:
    return [
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
        "numpy.dtype",
    ]
