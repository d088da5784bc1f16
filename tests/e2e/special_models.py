"""Pyfunc models for edge cases, pickled by value so replicas need not import the tests."""

from __future__ import annotations

import math
import os
import signal
import time

import cloudpickle
import mlflow
import pandas as pd

import servegate.features
import tests.e2e.special_models as this_module
from servegate.features import FeatureFunction, FeatureLookup, FeatureSpec
from tests.models import requirements


class BrokenOnLoad(mlflow.pyfunc.PythonModel):
    """Logs fine; fails when a replica loads it."""

    def load_context(self, context) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("this model is broken on purpose")

    def predict(self, context, model_input: pd.DataFrame) -> pd.Series:  # type: ignore[no-untyped-def]
        return model_input.iloc[:, 0]


class SlowToLoad(mlflow.pyfunc.PythonModel):
    """Takes ``LOAD_SECONDS`` (an environment variable of its replica) to load."""

    def load_context(self, context) -> None:  # type: ignore[no-untyped-def]
        time.sleep(float(os.environ.get("LOAD_SECONDS", "0")))

    def predict(self, context, model_input: pd.DataFrame) -> list[float]:  # type: ignore[no-untyped-def]
        return model_input["x"].tolist()


class EnvironmentSnoop(mlflow.pyfunc.PythonModel):
    """Answers every gateway setting (``SERVEGATE_*`` but the replica's own
    ``SERVEGATE_REPLICA_*``) its process can find, in os.environ or /proc."""

    def predict(self, context, model_input: pd.DataFrame) -> list[str]:  # type: ignore[no-untyped-def]
        def gateways(text: str) -> bool:
            return "SERVEGATE_" in text.replace("SERVEGATE_REPLICA_", "")

        with open("/proc/self/environ", "rb") as handle:
            initial = handle.read().decode(errors="replace")
        found = [name for name in os.environ if gateways(name)]
        found += [item for item in initial.split("\0") if gateways(item)]
        return [" ".join(found) or "clean"] * len(model_input)


class EnvironmentEcho(mlflow.pyfunc.PythonModel):
    """Answers the value of the GREETING environment variable for every row."""

    def predict(self, context, model_input: pd.DataFrame) -> list[str]:  # type: ignore[no-untyped-def]
        return [os.environ.get("GREETING", "<unset>")] * len(model_input)


class Sleeper(mlflow.pyfunc.PythonModel):
    """Takes as many seconds as the ``seconds`` param says, then answers the input; a row
    with x = -1 kills its replica (a request of death)."""

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> list[float]:  # type: ignore[no-untyped-def]
        if (model_input["x"] == -1).any():
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(float((params or {}).get("seconds", 0.0)))
        return model_input["x"].tolist()


class Chatty(mlflow.pyfunc.PythonModel):
    """Prints ``row X`` for each row, logs a line per call, and fails on a negative x."""

    def predict(self, context, model_input: pd.DataFrame) -> list[float]:  # type: ignore[no-untyped-def]
        import logging

        logging.getLogger("chatty").info("predicting %d rows", len(model_input))
        for x in model_input["x"]:
            if x < 0:
                raise RuntimeError(f"negative x: {x}")
            print(f"row {int(x)}", flush=True)
        return model_input["x"].tolist()


def register_chatty(name: str) -> tuple[str, pd.DataFrame]:
    return _register(name, Chatty())


def register_sleeper(name: str) -> tuple[str, pd.DataFrame]:
    cloudpickle.register_pickle_by_value(this_module)
    sample = pd.DataFrame({"x": [1.0, 2.0]})
    signature = mlflow.models.infer_signature(sample, [1.0, 2.0], params={"seconds": 0.0})
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=Sleeper(),
        signature=signature,
        registered_model_name=name,
        pip_requirements=requirements(mlflow.pyfunc),
    )
    return f"models:/{name}/{info.registered_model_version}", sample


def _register(name: str, model: mlflow.pyfunc.PythonModel) -> tuple[str, pd.DataFrame]:
    cloudpickle.register_pickle_by_value(this_module)
    sample = pd.DataFrame({"x": [1.0, 2.0]})
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=model,
        input_example=sample,
        registered_model_name=name,
        pip_requirements=requirements(mlflow.pyfunc),
    )
    return f"models:/{name}/{info.registered_model_version}", sample


def register_broken(name: str) -> tuple[str, pd.DataFrame]:
    return _register(name, BrokenOnLoad())


def register_environment_echo(name: str) -> tuple[str, pd.DataFrame]:
    return _register(name, EnvironmentEcho())


def register_slow_to_load(name: str) -> tuple[str, pd.DataFrame]:
    return _register(name, SlowToLoad())


def register_environment_snoop(name: str) -> tuple[str, pd.DataFrame]:
    return _register(name, EnvironmentSnoop())


class FeatureEcho(mlflow.pyfunc.PythonModel):
    """Answers, for each row, the features it was given: ``spend|orders|ratio``."""

    def predict(self, context, model_input: pd.DataFrame) -> list[str]:  # type: ignore[no-untyped-def]
        def show(value: object) -> str:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "null"
            return f"{value:g}"

        columns = model_input[["spend_30d", "orders", "ratio"]].itertuples(index=False)
        return ["|".join(show(value) for value in row) for row in columns]


def amount_ratio(amount: float, spend: float | None) -> float | None:
    return None if spend is None else round(amount / (spend + 1), 4)


def feature_echo_spec(table: str = "customer_spend", on_missing: str = "null") -> FeatureSpec:
    return FeatureSpec(
        lookups=(FeatureLookup(table, "customer_id", on_missing=on_missing),),
        functions=(
            FeatureFunction(amount_ratio, {"amount": "amount", "spend": "spend_30d"}, "ratio"),
        ),
    )


def register_feature_echo(
    name: str, table: str = "customer_spend", on_missing: str = "null"
) -> tuple[str, pd.DataFrame]:
    """A model whose spec looks ``spend_30d`` and ``orders`` up in ``table`` by
    ``customer_id`` and computes ``ratio`` from the request's ``amount``."""
    cloudpickle.register_pickle_by_value(this_module)
    trained_on = pd.DataFrame(
        {"amount": [1.0], "spend_30d": [1.0], "orders": [1.0], "ratio": [1.0]}
    )
    spec = FeatureSpec(
        lookups=(FeatureLookup(table, "customer_id", on_missing=on_missing),),
        functions=(
            FeatureFunction(amount_ratio, {"amount": "amount", "spend": "spend_30d"}, "ratio"),
        ),
    )
    info = servegate.features.log_model(
        FeatureEcho(),
        "model",
        feature_spec=spec,
        flavor=mlflow.pyfunc,
        signature=mlflow.models.infer_signature(trained_on, ["x"]),
        registered_model_name=name,
        pip_requirements=requirements(mlflow.pyfunc),
    )
    return f"models:/{name}/{info.registered_model_version}", pd.DataFrame(
        {"customer_id": [1], "amount": [10.0]}
    )


class LibraryVersions(mlflow.pyfunc.PythonModel):
    """Answers, for each row, the scikit-learn version and the Python prefix it runs in."""

    def predict(self, context, model_input: pd.DataFrame) -> pd.DataFrame:  # type: ignore[no-untyped-def]
        import sys

        import sklearn

        rows = len(model_input)
        return pd.DataFrame(
            {"sklearn": [sklearn.__version__] * rows, "prefix": [sys.prefix] * rows}
        )


def register_pinned(name: str, requirements: list[str]) -> tuple[str, pd.DataFrame]:
    """``LibraryVersions`` logged with exactly these pip requirements (and this MLflow)."""
    cloudpickle.register_pickle_by_value(this_module)
    sample = pd.DataFrame({"x": [1.0]})
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=LibraryVersions(),
        pip_requirements=[f"mlflow=={mlflow.__version__}", *requirements],
        registered_model_name=name,
    )
    return f"models:/{name}/{info.registered_model_version}", sample
