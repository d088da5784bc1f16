"""A request body to try a model version with: its saved example, else one its signature
describes (each column a placeholder of its type)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.models.signature import ModelSignature

from servegate.errors import TemporarilyUnavailable
from servegate.registry.model_files import ModelFiles
from servegate.registry.versions import RegistryClient

_PLACEHOLDERS: dict[str, Any] = {
    "double": 0.0,
    "float": 0.0,
    "integer": 0,
    "long": 0,
    "boolean": False,
    "string": "",
    "binary": "",
    "datetime": "1970-01-01T00:00:00",
}


@dataclass(frozen=True)
class RequestExample:
    body: dict[str, Any]
    source: str  # where it came from, for the reader


def request_example(registry: RegistryClient, name: str, version: str) -> RequestExample:
    try:
        with tempfile.TemporaryDirectory() as scratch:
            files = ModelFiles(
                registry.tracking_uri, registry.proxied_artifacts, name, version, Path(scratch)
            )
            model = Model.load(str(files.path(MLMODEL_FILE_NAME)))
            serving = (model.saved_input_example_info or {}).get("serving_input_path")
            if serving:
                body = json.loads(files.path(serving).read_text())
                return RequestExample(body, f"the input example logged with version {version}")
    except (MlflowException, OSError, ValueError) as error:
        raise TemporarilyUnavailable(
            f"Model '{name}' version {version} could not be read: {error}", retry_after=2
        ) from error
    if model.signature is not None:
        return RequestExample(
            from_signature(model.signature), f"the signature of version {version}"
        )
    return RequestExample(
        {"dataframe_records": [{}]},
        f"nothing: version {version} has neither an input example nor a signature",
    )


def from_signature(signature: ModelSignature) -> dict[str, Any]:
    """One row of placeholders in the shape the signature's inputs take, with its params."""
    body: dict[str, Any] = {}
    inputs = signature.inputs
    if inputs is not None and inputs.is_tensor_spec():
        tensors = {spec.name: _zeros(spec.shape) for spec in inputs.inputs}
        body["inputs"] = tensors if inputs.has_input_names() else next(iter(tensors.values()))
    elif inputs is not None:
        row = [_PLACEHOLDERS.get(getattr(spec.type, "name", "")) for spec in inputs.inputs]
        if inputs.has_input_names():
            body["dataframe_split"] = {"columns": inputs.input_names(), "data": [row]}
        else:
            body["instances"] = [row]
    else:
        body["dataframe_records"] = [{}]
    if signature.params:
        body["params"] = {param.name: param.default for param in signature.params.params}
    return body


def _zeros(shape: tuple[int, ...]) -> Any:
    if not shape:
        return 0
    return [_zeros(shape[1:]) for _ in range(max(shape[0], 1))]
