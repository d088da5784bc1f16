"""``log_model``: log a model with MLflow, its feature spec travelling with it."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import mlflow
from mlflow.models.model import ModelInfo

from servegate.features.spec import METADATA_KEY, FeatureSpec


def log_model(
    model: Any,
    name: str,
    *,
    feature_spec: FeatureSpec,
    flavor: ModuleType = mlflow.sklearn,
    **kwargs: Any,
) -> ModelInfo:
    """``flavor.log_model(model, name=name, **kwargs)`` (for ``mlflow.pyfunc``, ``model`` is
    the ``python_model``) with ``feature_spec`` in the model's
    metadata: any endpoint serving a version of it looks the features up and computes the
    on-demand ones before predicting. Log the model with a signature of the columns it
    was trained on (features included); requests then carry the lookup keys and whatever
    the spec does not supply."""
    metadata = {**(kwargs.pop("metadata", None) or {}), METADATA_KEY: feature_spec.to_dict()}
    if flavor is mlflow.pyfunc:  # its first parameter is not the model
        return mlflow.pyfunc.log_model(name=name, python_model=model, metadata=metadata, **kwargs)
    return flavor.log_model(model, name=name, metadata=metadata, **kwargs)
