"""``GET /api/2.0/serving-endpoints/{name}/openapi``: how to query one endpoint, its request
body described from each served model's signature (MLflow's scoring formats)."""

from __future__ import annotations

from typing import Any

from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, DataType, Schema, TensorSpec

_JSON_TYPES: dict[DataType, dict[str, Any]] = {
    DataType.boolean: {"type": "boolean"},
    DataType.integer: {"type": "integer", "format": "int32"},
    DataType.long: {"type": "integer", "format": "int64"},
    DataType.float: {"type": "number", "format": "float"},
    DataType.double: {"type": "number", "format": "double"},
    DataType.string: {"type": "string"},
    DataType.binary: {"type": "string", "format": "byte"},
    DataType.datetime: {"type": "string", "format": "date-time"},
}


def _column(spec: ColSpec) -> dict[str, Any]:
    if isinstance(spec.type, DataType):
        return dict(_JSON_TYPES.get(spec.type, {}))
    return spec.type.to_dict() if hasattr(spec.type, "to_dict") else {}


def _tensor(spec: TensorSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    for _ in spec.shape[1:]:
        schema = {"type": "array", "items": schema}
    return {"type": "array", "items": schema}


def request_schema(schema: Schema | None) -> dict[str, Any]:
    """The body ``/invocations`` takes for a model with input signature ``schema``."""
    params = {"params": {"type": "object", "description": "Inference parameters, if any."}}
    if schema is None:
        return {
            "type": "object",
            "description": "Any MLflow scoring request: dataframe_split, dataframe_records, "
            "instances or inputs (this model has no signature).",
        }
    if schema.is_tensor_spec():
        tensors = [spec for spec in schema.inputs if isinstance(spec, TensorSpec)]
        if len(tensors) == 1 and not schema.has_input_names():
            value: dict[str, Any] = _tensor(tensors[0])
        else:
            value = {
                "type": "object",
                "properties": {spec.name: _tensor(spec) for spec in tensors},
                "required": [spec.name for spec in tensors],
            }
        return {
            "oneOf": [
                {"type": "object", "required": [key], "properties": {key: value, **params}}
                for key in ("inputs", "instances")
            ]
        }
    columns = [spec for spec in schema.inputs if isinstance(spec, ColSpec)]
    required = [spec.name for spec in columns if spec.required and spec.name]
    row = {
        "type": "object",
        "properties": {spec.name: _column(spec) for spec in columns if spec.name},
        "required": required,
    }
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}, "example": required},
            "data": {"type": "array", "items": {"type": "array"}},
        },
    }
    records = {"type": "array", "items": row}
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["dataframe_split"],
                "properties": {"dataframe_split": split, **params},
            },
            {
                "type": "object",
                "required": ["dataframe_records"],
                "properties": {"dataframe_records": records, **params},
            },
            {
                "type": "object",
                "required": ["instances"],
                "properties": {"instances": records, **params},
            },
        ]
    }


def response_schema(schema: Schema | None) -> dict[str, Any]:
    predictions: dict[str, Any] = {"description": "One prediction per row."}
    if schema is not None and not schema.is_tensor_spec() and schema.has_input_names():
        predictions = {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    spec.name: _column(spec) for spec in schema.inputs if isinstance(spec, ColSpec)
                },
            },
        }
    elif schema is not None and len(schema.inputs) == 1 and isinstance(schema.inputs[0], ColSpec):
        predictions = {"type": "array", "items": _column(schema.inputs[0])}
    return {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": predictions},
    }


def endpoint_document(
    name: str, served: dict[str, ModelSignature | None], traffic: dict[str, int]
) -> dict[str, Any]:
    """The document for endpoint ``name``; ``served``: each served model's signature."""

    def operation(summary: str, signature: ModelSignature | None) -> dict[str, Any]:
        return {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": request_schema(signature.inputs if signature else None)
                    },
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "responses": {
                "200": {
                    "description": "Predictions; the served-model-name header says which "
                    "served model answered.",
                    "content": {
                        "application/json": {
                            "schema": response_schema(signature.outputs if signature else None)
                        }
                    },
                }
            },
        }

    paths: dict[str, Any] = {}
    if served:
        busiest = max(served, key=lambda served_name: traffic.get(served_name, 0))
        shares = ", ".join(f"{s} {traffic.get(s, 0)}%" for s in served)
        paths[f"/serving-endpoints/{name}/invocations"] = {
            "post": operation(f"Query {name} (traffic: {shares})", served[busiest])
        }
    for served_name, signature in served.items():
        path = f"/serving-endpoints/{name}/served-models/{served_name}/invocations"
        paths[path] = {"post": operation(f"Query served model {served_name}", signature)}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{name} serving endpoint", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
