"""Checks, on the control plane, that a model reference names something the registry has."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME

from servegate.errors import InvalidParameterValue, TemporarilyUnavailable
from servegate.features.spec import METADATA_KEY
from servegate.registry.model_files import ModelFiles
from servegate.registry.references import (
    canonical_reference,
    describe_reference,
    is_version_number,
)
from servegate.registry.snapshot import RegisteredModelState, RegistryReader


def _mlmodel(tracking_uri: str, name: str, version: str, proxied_root: Path | None) -> Model:
    with tempfile.TemporaryDirectory() as scratch:
        files = ModelFiles(tracking_uri, proxied_root, name, version, Path(scratch))
        return Model.load(str(files.path(MLMODEL_FILE_NAME)))


class RegistryClient:
    """Resolves references for the API, turning registry problems into servegate errors."""

    def __init__(self, tracking_uri: str, proxied_artifacts: Path | None = None) -> None:
        """``proxied_artifacts``: where the embedded registry keeps ``mlflow-artifacts:/``."""
        self.tracking_uri = tracking_uri
        self.proxied_artifacts = proxied_artifacts
        self.reader = RegistryReader(tracking_uri)

    def model(self, name: str) -> RegisteredModelState:
        try:
            state = self.reader.read_one(name)
        except MlflowException as error:
            raise TemporarilyUnavailable(
                f"The model registry could not be read: {error.message}", retry_after=2
            ) from error
        if not state.exists:
            raise InvalidParameterValue(f"Registered model '{name}' does not exist.")
        return state

    def resolve(self, name: str, reference: str) -> str:
        """The version ``reference`` (a number, a stage or ``@alias``) points at now."""
        reference = canonical_reference(str(reference))
        if not (is_version_number(reference) or reference.startswith("@")) and reference not in (
            "Staging",
            "Production",
        ):
            raise InvalidParameterValue(
                f"Model version {reference!r} of '{name}' is not a version number, a stage "
                "(Staging, Production) or an alias (@name)."
            )
        version = self.model(name).resolve(reference)
        if version is None:
            if is_version_number(reference):
                raise InvalidParameterValue(
                    f"Model '{name}' version {reference} does not exist in the registry."
                )
            raise InvalidParameterValue(
                f"Model '{name}' has no version at {describe_reference(reference)}."
            )
        return version

    def mlmodel(self, name: str, version: str) -> Model:
        """A model version's MLmodel: its flavors, signature and metadata."""
        try:
            return _mlmodel(self.tracking_uri, name, version, self.proxied_artifacts)
        except (MlflowException, OSError) as error:
            raise TemporarilyUnavailable(
                f"Model '{name}' version {version} could not be read: {error}",
                retry_after=2,
            ) from error

    def feature_spec(self, name: str, version: str) -> dict[str, Any] | None:
        """The feature spec stored with a model version, if it has one."""
        spec: dict[str, Any] | None = (self.mlmodel(name, version).metadata or {}).get(METADATA_KEY)
        return spec
