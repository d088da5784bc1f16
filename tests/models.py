"""Real models for the tests, logged and registered into the current MLflow tracking URI.

Each helper returns ``(model_uri, sample)``: ``models:/NAME/VERSION`` and a DataFrame of
rows to query it with. Training is deterministic.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib.metadata import version
from types import ModuleType
from typing import Any

import cloudpickle
import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


@cache
def breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    data = load_breast_cancer(as_frame=True)
    return data.data, data.target


def _sample() -> pd.DataFrame:
    features, _ = breast_cancer()
    return features.sample(50, random_state=3).reset_index(drop=True)


# The libraries a model of each flavor needs, besides MLflow.
_FLAVOR_PACKAGES = {
    "sklearn": ("scikit-learn", "skops"),
    "xgboost": ("xgboost-cpu",),  # the CPU-only wheel, as the test dependencies install it
    "lightgbm": ("lightgbm",),
    "python_function": ("cloudpickle",),
}


def requirements(flavor: ModuleType) -> list[str]:
    """pip requirements of a model logged by ``flavor`` (``mlflow.sklearn``, ...): MLflow and
    the flavor's libraries pinned at the versions installed here. Without them MLflow infers
    the requirements in a subprocess that loads the model and watches its imports, 4-6 s a
    model, which was most of many fixtures' time."""
    packages = ("mlflow", *_FLAVOR_PACKAGES[flavor.FLAVOR_NAME])
    return [f"{package}=={version(package)}" for package in packages]


def _uri(name: str, info: Any) -> str:
    return f"models:/{name}/{info.registered_model_version}"


def register_sklearn(name: str, c: float = 1.0) -> tuple[str, pd.DataFrame]:
    """StandardScaler + LogisticRegression; ``c`` changes its predictions between versions."""
    features, target = breast_cancer()
    model = Pipeline(
        [("scale", StandardScaler()), ("logreg", LogisticRegression(C=c, max_iter=5000))]
    )
    model.fit(features, target)
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        input_example=features.head(3),
        registered_model_name=name,
        pip_requirements=requirements(mlflow.sklearn),
    )
    return _uri(name, info), _sample()


FOREST_TYPES = [
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "numpy.dtype",
]


def register_forest(name: str) -> tuple[str, pd.DataFrame]:
    """A 30-tree random forest, with probabilities as its predictions."""
    features, target = breast_cancer()
    model = RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1)
    model.fit(features, target)
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        input_example=features.head(3),
        registered_model_name=name,
        pyfunc_predict_fn="predict_proba",
        skops_trusted_types=FOREST_TYPES,
        pip_requirements=requirements(mlflow.sklearn),
    )
    return _uri(name, info), _sample()


class RiskScorer(mlflow.pyfunc.PythonModel):
    """A custom pyfunc answering a DataFrame, with a ``multiplier`` inference param."""

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):  # type: ignore[no-untyped-def]
        if (model_input["mean radius"] < 0).any():
            raise ValueError("mean radius must not be negative")
        multiplier = (params or {}).get("multiplier", 1.0)
        score = model_input["mean radius"] * 0.1 + model_input["mean texture"] * 0.01
        return pd.DataFrame({"score": score * multiplier, "flag": score > 2.0})


def register_custom_pyfunc(name: str) -> tuple[str, pd.DataFrame]:
    """``RiskScorer``; a negative ``mean radius`` makes its predict raise (a model bug)."""
    # Pickle the class itself, so a replica started from any folder can load it.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    sample = _sample()[["mean radius", "mean texture"]]
    output = RiskScorer().predict(None, sample)
    signature = infer_signature(sample, output, params={"multiplier": 1.0})
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=RiskScorer(),
        signature=signature,
        registered_model_name=name,
        pip_requirements=requirements(mlflow.pyfunc),
    )
    return _uri(name, info), sample


def register_xgboost(name: str) -> tuple[str, pd.DataFrame]:
    import xgboost

    features, target = breast_cancer()
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0, n_jobs=1)
    model.fit(features, target)
    info = mlflow.xgboost.log_model(
        model,
        name="model",
        input_example=features.head(3),
        registered_model_name=name,
        pip_requirements=requirements(mlflow.xgboost),
    )
    return _uri(name, info), _sample()
