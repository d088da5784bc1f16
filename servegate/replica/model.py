"""Loading a model version, and calling its predict with MLflow's own signature enforcement."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.pyfunc import PyFuncModel
from mlflow.types.schema import Schema

from servegate.errors import BadRequest, InvalidParameterValue
from servegate.replica.artifacts import LocalArtifacts, fetch_artifacts
from servegate.replica.buildlog import BuildLog
from servegate.replica.enforcement import clean_mlflow_message

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """The one model a replica serves, with what its signature says about requests."""

    uri: str
    pyfunc: PyFuncModel

    @property
    def metadata(self) -> Model:
        return self.pyfunc.metadata

    @cached_property
    def input_schema(self) -> Schema | None:
        """Read once: every request is parsed against it."""
        return self.pyfunc.metadata.get_input_schema()

    @cached_property
    def takes_params(self) -> bool:
        """Only a model whose signature declares params gets them; MLflow validates them."""
        return self.pyfunc.metadata.get_params_schema() is not None

    @property
    def flavor(self) -> str:
        flavors = self.pyfunc.metadata.flavors
        return next((name for name in flavors if name != "python_function"), "python_function")

    def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        """Predict with MLflow's signature enforcement; any failure is the request's fault
        (bad input, or input the model cannot handle), so it answers 400, never 500."""
        try:
            if self.takes_params:
                return self.pyfunc.predict(data, params=params)
            return self.pyfunc.predict(data)
        except MlflowException as error:
            raise InvalidParameterValue(clean_mlflow_message(error.message)) from error
        except Exception as error:
            logger.warning("the model's predict failed", exc_info=True)
            raise BadRequest(
                f"The model's predict failed: {type(error).__name__}: {error}"
            ) from error


def load(
    model_uri: str, cache_dir: Path | None, build_log: BuildLog
) -> tuple[LoadedModel, LocalArtifacts]:
    """Fetch and load ``model_uri``; the artifacts' ``cleanup`` runs when the replica ends."""
    artifacts = fetch_artifacts(model_uri, cache_dir, build_log)
    started = time.perf_counter()
    try:
        pyfunc = mlflow.pyfunc.load_model(str(artifacts.path))
    except BaseException:
        artifacts.cleanup()
        raise
    model = LoadedModel(model_uri, pyfunc)
    build_log.write(
        f"loaded model (flavor {model.flavor}, mlflow {mlflow.__version__}) "
        f"in {time.perf_counter() - started:.2f}s"
    )
    return model, artifacts
