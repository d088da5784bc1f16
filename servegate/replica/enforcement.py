"""Signature enforcement errors a user can act on.

MLflow enforces the model's signature itself (while parsing and again inside predict); this
module only rewrites what it says: MLflow's messages sometimes echo the whole request, and its
tensor parser drops the name of the column that failed to convert. Whoever sent the request
needs the column, the expected type and the offending value.
"""

from __future__ import annotations

from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.types.schema import ColSpec, DataType, Schema
from mlflow.utils.proto_json_utils import convert_data_type

# MLflow prefixes enforcement errors with a dump of the whole input; the user needs the cause.
_ENFORCEMENT_PREFIX = "Failed to enforce schema of data"
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


def clean_mlflow_message(message: str) -> str:
    """Keep the cause of an MLflow input error, not the echo of the request data."""
    if message.startswith(_ENFORCEMENT_PREFIX) and "Error: " in message:
        message = message.rsplit("Error: ", 1)[1]
    return message.strip()


def input_error_message(error: MlflowException, data: Any, schema: Schema | None) -> str:
    """MLflow's message about ``data``, led by the column that failed when MLflow left it out."""
    message = clean_mlflow_message(error.message)
    failure = first_unconvertible_value(data, schema)
    if failure is None:
        return message
    return f"{failure}. {message}"


def first_unconvertible_value(data: Any, schema: Schema | None) -> str | None:
    """``Column 'x': expected double, got string 'abc'`` for the first value of a named
    column that the signature's type does not accept, or None if none is found."""
    if schema is None or not schema.has_input_names():
        return None
    columns = _columns(data)
    for spec in schema.inputs:
        if not isinstance(spec, ColSpec) or spec.name not in columns:
            continue
        for value in columns[spec.name]:
            if value is None:
                continue
            try:
                convert_data_type(value, spec)
            except MlflowException:
                return f"Column '{spec.name}': expected {_type_name(spec)}, got {_describe(value)}"
    return None


def _columns(data: Any) -> dict[str, list[Any]]:
    """Values per column of a request in any JSON orient: records, split, or columns."""
    if isinstance(data, list):
        columns: dict[str, list[Any]] = {}
        for row in data:
            if isinstance(row, dict):
                for name, value in row.items():
                    columns.setdefault(str(name), []).append(value)
        return columns
    if not isinstance(data, dict):
        return {}
    if isinstance(data.get("columns"), list) and isinstance(data.get("data"), list):
        names = [str(name) for name in data["columns"]]
        rows = [row for row in data["data"] if isinstance(row, list)]
        return {name: [row[i] for row in rows if i < len(row)] for i, name in enumerate(names)}
    return {
        str(name): values if isinstance(values, list) else [values] for name, values in data.items()
    }


def _type_name(spec: ColSpec) -> str:
    return spec.type.name if isinstance(spec.type, DataType) else str(spec.type)


def _describe(value: Any) -> str:
    kind = _JSON_TYPES.get(type(value), "array" if isinstance(value, list) else "object")
    shown = repr(value)
    return f"{kind} {shown[:60] + '...' if len(shown) > 60 else shown}"
