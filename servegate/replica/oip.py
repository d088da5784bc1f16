"""The Open Inference Protocol (KServe v2) for one MLflow model: tensors in, tensors out.

A column signature takes one tensor per column (shape ``[rows]`` or ``[rows, 1]``), or a single
``[rows, columns]`` tensor in the signature's column order, as Triton clients send; a tensor
signature takes its tensors as they are. Predictions become one tensor per column of a frame,
per key of a dict, or a single tensor named by the output signature (else ``predictions``).

Tensors travel as JSON or, with the binary tensor data extension that Triton's clients use by
default, as raw little-endian bytes after the JSON header (``Inference-Header-Content-Length``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
from mlflow.types.schema import ColSpec, DataType, Schema, TensorSpec

from servegate.errors import InvalidParameterValue

_NUMPY_OF = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
_DATATYPE_OF_COLUMN = {
    DataType.boolean: "BOOL",
    DataType.integer: "INT32",
    DataType.long: "INT64",
    DataType.float: "FP32",
    DataType.double: "FP64",
    DataType.string: "BYTES",
    DataType.binary: "BYTES",
    DataType.datetime: "BYTES",
}
DEFAULT_OUTPUT = "predictions"
HEADER_LENGTH = "inference-header-content-length"
_BINARY_SIZE = "binary_data_size"


def datatype_of(dtype: np.dtype) -> str:
    """The protocol's name for a numpy dtype (strings and objects are ``BYTES``)."""
    for name, kind in _NUMPY_OF.items():
        if kind is not np.object_ and dtype == np.dtype(kind):
            return name
    return "BYTES"


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    datatype: str
    data: np.ndarray  # shaped

    def wire(self, binary: bool) -> tuple[dict[str, Any], bytes]:
        """The tensor's JSON, and its raw bytes when sent binary (else empty)."""
        described: dict[str, Any] = {
            "name": self.name,
            "datatype": self.datatype,
            "shape": list(self.shape),
        }
        flat = self.data.reshape(-1)
        if binary:
            raw = (
                _bytes_of(flat)
                if self.datatype == "BYTES"
                else flat.astype(np.dtype(_NUMPY_OF[self.datatype]).newbyteorder("<")).tobytes()
            )
            described["parameters"] = {_BINARY_SIZE: len(raw)}
            return described, raw
        described["data"] = [str(v) for v in flat] if self.datatype == "BYTES" else flat.tolist()
        return described, b""


def _bytes_of(values: np.ndarray) -> bytes:
    """BYTES elements as the extension frames them: a 4-byte little-endian length, then them."""
    chunks = []
    for value in values:
        encoded = value if isinstance(value, bytes) else str(value).encode()
        chunks += [len(encoded).to_bytes(4, "little"), encoded]
    return b"".join(chunks)


def _values_of_bytes(raw: bytes, where: str) -> list[str]:
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidParameterValue(f"{where}: binary BYTES data ends inside a length.")
        size = int.from_bytes(raw[offset : offset + 4], "little")
        offset += 4
        if offset + size > len(raw):
            raise InvalidParameterValue(f"{where}: binary BYTES data ends inside an element.")
        values.append(raw[offset : offset + size].decode(errors="replace"))
        offset += size
    return values


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: list[str] | None  # the names asked for, or all
    parameters: dict[str, Any]
    binary_outputs: frozenset[str] = frozenset()  # outputs to send as raw bytes
    all_binary: bool = False  # every output as raw bytes


def parse_request(body: bytes, header_length: str | None = None) -> InferRequest:
    """The request; ``header_length`` is the ``Inference-Header-Content-Length`` header, when
    the tensors' data follow the JSON as raw bytes."""
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise InvalidParameterValue(
                f"{HEADER_LENGTH} must be the length of the JSON part, at most {len(body)}."
            )
        body, binary = body[: int(header_length)], body[int(header_length) :]
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidParameterValue(f"The request is not valid JSON: {error}.") from error
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        raise InvalidParameterValue("An inference request is an object with a list 'inputs'.")
    if not document["inputs"]:
        raise InvalidParameterValue("'inputs' is empty: send at least one tensor.")
    inputs = []
    offset = 0
    for index, item in enumerate(document["inputs"]):
        inputs.append(_tensor(item, index, binary, offset))
        offset += _binary_size(item)
    if offset != len(binary):
        raise InvalidParameterValue(
            f"The binary part has {len(binary)} bytes; the inputs' binary_data_size add up to "
            f"{offset}."
        )
    asked = document.get("outputs")
    if asked is not None and not (
        isinstance(asked, list) and all(isinstance(o, dict) and "name" in o for o in asked)
    ):
        raise InvalidParameterValue("'outputs' is a list of objects with a 'name'.")
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidParameterValue("'parameters' is an object.")
    request_id = document.get("id")
    return InferRequest(
        str(request_id) if request_id is not None else None,
        inputs,
        [o["name"] for o in asked] if asked is not None else None,
        {k: v for k, v in parameters.items() if k != "binary_data_output"},
        frozenset(o["name"] for o in asked or () if (o.get("parameters") or {}).get("binary_data")),
        bool(parameters.get("binary_data_output")),
    )


def _binary_size(item: Any) -> int:
    size = (item.get("parameters") or {}).get(_BINARY_SIZE, 0) if isinstance(item, dict) else 0
    if not isinstance(size, int) or size < 0:
        raise InvalidParameterValue(f"{_BINARY_SIZE} must be a non-negative integer.")
    return size


def _tensor(item: Any, index: int, binary: bytes, offset: int) -> Tensor:
    where = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise InvalidParameterValue(f"{where} is not an object.")
    size = _binary_size(item)
    if size:
        item = {**item, "data": _binary_values(item, binary[offset : offset + size], where)}
    missing = [key for key in ("name", "shape", "datatype", "data") if key not in item]
    if missing:
        raise InvalidParameterValue(f"{where} lacks {', '.join(missing)}.")
    name, shape, datatype = item["name"], item["shape"], item["datatype"]
    where = f"input '{name}'"
    if datatype not in _NUMPY_OF:
        raise InvalidParameterValue(
            f"{where}: datatype {datatype!r} is not one of {', '.join(_NUMPY_OF)}."
        )
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise InvalidParameterValue(f"{where}: shape must be a list of non-negative integers.")
    try:
        data = np.asarray(item["data"], dtype=_NUMPY_OF[datatype]).reshape(-1)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidParameterValue(f"{where}: data is not {datatype}: {error}.") from error
    expected = int(np.prod(shape)) if shape else 1
    if data.size != expected:
        raise InvalidParameterValue(
            f"{where}: shape {shape} holds {expected} values; data has {data.size}."
        )
    return Tensor(str(name), tuple(shape), datatype, data.reshape(shape))


def _binary_values(item: dict[str, Any], raw: bytes, where: str) -> Any:
    datatype = item.get("datatype")
    if datatype == "BYTES":
        return _values_of_bytes(raw, where)
    if datatype not in _NUMPY_OF:
        return []  # reported with the datatype
    dtype = np.dtype(_NUMPY_OF[datatype]).newbyteorder("<")
    if len(raw) % dtype.itemsize:
        raise InvalidParameterValue(
            f"{where}: {len(raw)} bytes is not a whole number of {datatype} values."
        )
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


def model_input(request: InferRequest, schema: Schema | None) -> Any:
    """What the model's predict takes, built from the request's tensors."""
    tensors = request.inputs
    if schema is not None and schema.is_tensor_spec():
        if len(tensors) == 1 and not schema.has_input_names():
            return tensors[0].data
        return {tensor.name: tensor.data for tensor in tensors}
    columns = schema.input_names() if schema is not None and schema.has_input_names() else None
    by_name = {tensor.name: tensor for tensor in tensors}
    if columns and len(tensors) == 1 and tensors[0].name not in columns:
        return _frame_of_matrix(tensors[0], columns)
    if columns:
        required = [c.name for c in schema.inputs if isinstance(c, ColSpec) and c.required]
        absent = [name for name in required if name not in by_name]
        if absent:
            raise InvalidParameterValue(
                f"Missing input tensor(s) {', '.join(map(repr, absent))}: send one tensor per "
                f"column, or one [rows, {len(columns)}] tensor in the signature's column order."
            )
    if len(tensors) == 1 and len(tensors[0].shape) == 2 and tensors[0].shape[1] > 1 and not columns:
        return tensors[0].data
    return _frame_of_columns(tensors)


def _frame_of_matrix(tensor: Tensor, columns: list[str]) -> pd.DataFrame:
    if len(tensor.shape) != 2 or tensor.shape[1] != len(columns):
        raise InvalidParameterValue(
            f"Input '{tensor.name}' is not a column of the signature; as a whole frame it must "
            f"have shape [rows, {len(columns)}], not {list(tensor.shape)}."
        )
    return pd.DataFrame(tensor.data, columns=columns)


def _frame_of_columns(tensors: list[Tensor]) -> pd.DataFrame:
    rows = {tensor.shape[0] if tensor.shape else 1 for tensor in tensors}
    if len(rows) > 1:
        raise InvalidParameterValue(
            f"Input tensors disagree on the number of rows: {sorted(rows)}."
        )
    for tensor in tensors:
        if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise InvalidParameterValue(
                f"Input '{tensor.name}' is a column: its shape is [rows] or [rows, 1], not "
                f"{list(tensor.shape)}."
            )
    return pd.DataFrame({tensor.name: tensor.data.reshape(-1) for tensor in tensors})


def output_tensors(raw: Any, output_schema: Schema | None) -> list[Tensor]:
    if isinstance(raw, pd.DataFrame):
        return [_output(str(column), raw[column].to_numpy()) for column in raw.columns]
    if isinstance(raw, dict):
        return [_output(str(key), np.asarray(value)) for key, value in raw.items()]
    name = DEFAULT_OUTPUT
    if output_schema is not None and output_schema.has_input_names():
        name = output_schema.input_names()[0]
    values = raw.to_numpy() if isinstance(raw, pd.Series) else np.asarray(raw)
    return [_output(name, values)]


def _output(name: str, values: np.ndarray) -> Tensor:
    if values.dtype == np.object_ and all(isinstance(v, (bool, np.bool_)) for v in values.flat):
        values = values.astype(np.bool_)
    return Tensor(name, values.shape, datatype_of(values.dtype), values)


def infer_response(
    request: InferRequest, outputs: list[Tensor], model_name: str, model_version: str | None
) -> tuple[bytes, int | None]:
    """The answer's bytes, and the length of its JSON part when binary data follow it."""
    if request.outputs is not None:
        known = {tensor.name for tensor in outputs}
        unknown = [name for name in request.outputs if name not in known]
        if unknown:
            raise InvalidParameterValue(
                f"Unknown output(s) {', '.join(map(repr, unknown))}; this model answers "
                f"{', '.join(map(repr, sorted(known)))}."
            )
        outputs = [tensor for tensor in outputs if tensor.name in request.outputs]
    described, raw = [], []
    for tensor in outputs:
        wire, data = tensor.wire(request.all_binary or tensor.name in request.binary_outputs)
        described.append(wire)
        raw.append(data)
    answer: dict[str, Any] = {"model_name": model_name, "outputs": described}
    if model_version is not None:
        answer["model_version"] = model_version
    if request.id is not None:
        answer["id"] = request.id
    header = orjson.dumps(answer)
    binary = b"".join(raw)
    return (header + binary, len(header)) if binary else (header, None)


def tensor_metadata(schema: Schema | None, default_name: str) -> list[dict[str, Any]]:
    """``[{"name", "datatype", "shape"}]`` for a signature's inputs or outputs."""
    if schema is None:
        return []
    described = []
    for index, spec in enumerate(schema.inputs):
        name = spec.name or (default_name if index == 0 else f"{default_name}_{index}")
        if isinstance(spec, TensorSpec):
            described.append(
                {"name": name, "datatype": datatype_of(spec.type), "shape": list(spec.shape)}
            )
        elif isinstance(spec, ColSpec) and isinstance(spec.type, DataType):
            described.append(
                {
                    "name": name,
                    "datatype": _DATATYPE_OF_COLUMN.get(spec.type, "BYTES"),
                    "shape": [-1],
                }
            )
        else:  # arrays, objects, maps: sent as JSON text
            described.append({"name": name, "datatype": "BYTES", "shape": [-1]})
    return described
