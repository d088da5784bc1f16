"""Checks that a served entity names a model version the registry has."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from servegate.errors import InvalidParameterValue, TemporarilyUnavailable


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    source: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class RegistryClient:
    """A thin adapter over ``MlflowClient``, turning its errors into servegate's."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def model_version(self, name: str, version: str) -> ModelVersion:
        if not str(version).isdigit():
            raise InvalidParameterValue(
                f"Model version {version!r} of '{name}' is not a version number."
            )
        try:
            found = self._client.get_model_version(name, str(version))
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                raise InvalidParameterValue(
                    f"Model '{name}' version {version} does not exist in the registry."
                ) from error
            raise TemporarilyUnavailable(
                f"The model registry could not be read: {error.message}", retry_after=2
            ) from error
        return ModelVersion(name=found.name, version=str(found.version), source=found.source)
