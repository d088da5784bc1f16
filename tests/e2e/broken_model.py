"""A pyfunc model that logs fine and fails when a replica loads it."""

from __future__ import annotations

import cloudpickle
import mlflow
import pandas as pd

import tests.e2e.broken_model as this_module


class BrokenOnLoad(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("this model is broken on purpose")

    def predict(self, context, model_input: pd.DataFrame) -> pd.Series:  # type: ignore[no-untyped-def]
        return model_input.iloc[:, 0]


def register_broken(name: str) -> tuple[str, pd.DataFrame]:
    cloudpickle.register_pickle_by_value(this_module)
    sample = pd.DataFrame({"x": [1.0, 2.0]})
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=BrokenOnLoad(),
        input_example=sample,
        registered_model_name=name,
    )
    return f"models:/{name}/{info.registered_model_version}", sample
