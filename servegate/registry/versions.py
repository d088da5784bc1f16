"""Checks, on the control plane, that a model reference names something the registry has."""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from servegate.errors import InvalidParameterValue, TemporarilyUnavailable
from servegate.registry.snapshot import (
    RegisteredModelState,
    RegistryReader,
    canonical_reference,
    describe_reference,
    is_version_number,
)


class RegistryClient:
    """Resolves references for the API, turning registry problems into servegate errors."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
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
