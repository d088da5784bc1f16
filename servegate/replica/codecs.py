"""Request formats of the MLflow scoring protocol, one small codec each, in two registries.

``BODY_CODECS`` maps a Content-Type to its codec (JSON, CSV, Parquet); the JSON codec hands
the parsed object to the first of ``JSON_CODECS`` that accepts it (``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs``, a bare split object, unified LLM input).
A codec turns a request into the data (and params) the model's predict takes. Parsing and
type conversion use MLflow's own helpers, so a replica reads every body exactly as
``mlflow models serve`` does.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.scoring_server import parse_csv_input, parse_parquet_input
from mlflow.utils.proto_json_utils import dataframe_from_parsed_json, parse_tf_serving_input

from servegate.errors import BadRequest, InvalidParameterValue, UnsupportedMediaType
from servegate.replica.enforcement import clean_mlflow_message, input_error_message
from servegate.replica.model import LoadedModel

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
LLM_KEYS = ("messages", "prompt", "input")


@dataclass
class Decoded:
    data: Any
    params: dict[str, Any] | None = None
    unwrapped: bool = False  # answer without the {"predictions": ...} wrapper (LLM input)


class BodyCodec(Protocol):
    """Decodes request bodies of one Content-Type."""

    content_type: str

    def decode(self, body: bytes, model: LoadedModel) -> Decoded: ...


class JsonCodec(Protocol):
    """Decodes one kind of JSON request object (``application/json`` bodies)."""

    def accepts(self, payload: dict[str, Any]) -> bool: ...

    def decode(self, payload: dict[str, Any], model: LoadedModel) -> Decoded: ...


def _mlflow_input_error(error: MlflowException) -> InvalidParameterValue:
    return InvalidParameterValue(clean_mlflow_message(error.message))


class DataframeCodec:
    """``dataframe_split`` or ``dataframe_records``: pandas orients, typed by the signature."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.orient = key.removeprefix("dataframe_")

    def accepts(self, payload: dict[str, Any]) -> bool:
        return self.key in payload

    def decode(self, payload: dict[str, Any], model: LoadedModel) -> Decoded:
        try:
            data = dataframe_from_parsed_json(
                payload[self.key], pandas_orient=self.orient, schema=model.input_schema
            )
        except MlflowException as error:
            message = input_error_message(error, payload[self.key], model.input_schema)
            raise InvalidParameterValue(message) from error
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise InvalidParameterValue(
                f"'{self.key}' is not a valid pandas '{self.orient}' DataFrame: {error}"
            ) from error
        return Decoded(data, payload.get("params"))


class TensorCodec:
    """``instances`` (rows) or ``inputs`` (columns), TF-serving style, typed by the signature."""

    def __init__(self, key: str) -> None:
        self.key = key

    def accepts(self, payload: dict[str, Any]) -> bool:
        return self.key in payload

    def decode(self, payload: dict[str, Any], model: LoadedModel) -> Decoded:
        if self.key == "inputs" and _signature_from_type_hints(model):
            return Decoded(payload["inputs"], payload.get("params"))
        try:
            data = parse_tf_serving_input({self.key: payload[self.key]}, schema=model.input_schema)
        except MlflowException as error:
            message = input_error_message(error, payload[self.key], model.input_schema)
            raise InvalidParameterValue(message) from error
        except (ValueError, TypeError, KeyError) as error:
            raise InvalidParameterValue(
                f"'{self.key}' is not a valid tensor input: {error}"
            ) from error
        return Decoded(data, payload.get("params"))


class BareSplitCodec(DataframeCodec):
    """``DataFrame.to_dict(orient="split")`` posted as the whole body, as older clients do."""

    def __init__(self) -> None:
        super().__init__("dataframe_split")

    def accepts(self, payload: dict[str, Any]) -> bool:
        return "columns" in payload and "data" in payload and not set(payload) & set(INPUT_KEYS)

    def decode(self, payload: dict[str, Any], model: LoadedModel) -> Decoded:
        split = {key: payload[key] for key in ("columns", "data", "index") if key in payload}
        return super().decode({"dataframe_split": split}, model)


class UnifiedLlmCodec:
    """Bodies with ``messages``/``prompt``/``input``: passed through, answered unwrapped."""

    def accepts(self, payload: dict[str, Any]) -> bool:
        return bool(set(payload) & set(LLM_KEYS)) and not set(payload) & set(INPUT_KEYS)

    def decode(self, payload: dict[str, Any], model: LoadedModel) -> Decoded:
        schema = model.metadata.get_params_schema() if model.takes_params else None
        names = {param.name for param in schema.params} if schema else set()
        data = {key: value for key, value in payload.items() if key not in names}
        params = {key: value for key, value in payload.items() if key in names}
        return Decoded(data, params or None, unwrapped=True)


JSON_CODECS: tuple[JsonCodec, ...] = (
    DataframeCodec("dataframe_split"),
    DataframeCodec("dataframe_records"),
    TensorCodec("instances"),
    TensorCodec("inputs"),
    BareSplitCodec(),
    UnifiedLlmCodec(),
)


MAX_JSON_DEPTH = 1024  # orjson's own limit


def _signature_from_type_hints(model: LoadedModel) -> bool:
    check = getattr(model.metadata, "_is_signature_from_type_hint", None)
    return bool(check and check())


def _parse_json(body: bytes) -> Any:
    """orjson first (fast); the standard library second, because MLflow's server (and Python
    clients using ``json.dumps``) accept ``NaN`` and ``Infinity``, which orjson rejects."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error):
            raise BadRequest(
                f"The request body nests JSON more than {MAX_JSON_DEPTH} levels deep."
            ) from error
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadRequest(f"The request body is not valid JSON: {error}") from error


class JsonBodyCodec:
    """``application/json``: a JSON object whose one input field picks the field codec."""

    content_type = "application/json"

    def decode(self, body: bytes, model: LoadedModel) -> Decoded:
        payload = _parse_json(body)
        if not isinstance(payload, dict):
            raise BadRequest(
                "The request body must be a JSON object with exactly one of the input fields "
                f"{', '.join(INPUT_KEYS)}; received a JSON {_json_type(payload)}."
            )
        present = [key for key in INPUT_KEYS if key in payload]
        if len(present) > 1:
            raise BadRequest(
                f"The request has several input fields ({', '.join(present)}); send exactly one."
            )
        if payload.get("params") is not None and not isinstance(payload["params"], dict):
            raise InvalidParameterValue("'params' must be a JSON object.")
        for codec in JSON_CODECS:
            if codec.accepts(payload):
                return codec.decode(payload, model)
        raise BadRequest(
            f"The request must have exactly one of the input fields {', '.join(INPUT_KEYS)} "
            f"(or be a pandas split object with 'columns' and 'data'); received fields: "
            f"{', '.join(map(repr, payload)) or 'none'}."
        )


class CsvCodec:
    """``text/csv``: a header row then data rows, typed by the signature."""

    content_type = "text/csv"

    def decode(self, body: bytes, model: LoadedModel) -> Decoded:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequest(f"The CSV body is not valid UTF-8: {error}") from error
        try:
            return Decoded(parse_csv_input(io.StringIO(text), schema=model.input_schema))
        except MlflowException as error:
            raise InvalidParameterValue(_csv_error_message(error, text, model)) from error


def _csv_error_message(error: MlflowException, text: str, model: LoadedModel) -> str:
    """MLflow's message, led by the failing column found by reading the CSV untyped."""
    try:
        columns = pd.read_csv(io.StringIO(text), dtype=str).to_dict(orient="list")
    except (ValueError, pd.errors.ParserError):
        columns = {}
    return input_error_message(error, columns, model.input_schema)


class ParquetCodec:
    """``application/vnd.apache.parquet``: a Parquet file, typed later by predict."""

    content_type = "application/vnd.apache.parquet"

    def decode(self, body: bytes, model: LoadedModel) -> Decoded:
        try:
            return Decoded(parse_parquet_input(io.BytesIO(body)))
        except MlflowException as error:
            raise _mlflow_input_error(error) from error


BODY_CODECS: dict[str, BodyCodec] = {
    codec.content_type: codec for codec in (JsonBodyCodec(), CsvCodec(), ParquetCodec())
}


def codec_for(content_type: str | None) -> BodyCodec:
    """The codec of a Content-Type; 415 for anything the scoring protocol does not take."""
    if not content_type:
        raise UnsupportedMediaType(
            f"A Content-Type header is required: one of {', '.join(BODY_CODECS)}."
        )
    mime, *parameters = (part.strip() for part in content_type.split(";"))
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset":
            raise UnsupportedMediaType(
                f"Unrecognized content type parameter '{name.strip()}'. The scoring protocol "
                "changed in MLflow 2.0: send the format as a JSON field (dataframe_split, "
                "dataframe_records, instances or inputs) with plain application/json."
            )
        if value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaType("Only the utf-8 charset is supported.")
    codec = BODY_CODECS.get(mime.lower())
    if codec is None:
        raise UnsupportedMediaType(
            f"Content type '{mime}' is not supported; use one of {', '.join(BODY_CODECS)}."
        )
    return codec


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def row_count(data: Any) -> int | None:
    """How many rows a decoded request carries (None when it has no notion of rows)."""
    if isinstance(data, pd.DataFrame | pd.Series):
        return len(data)
    if isinstance(data, dict):
        lengths = [_length(value) for value in data.values()]
        if not lengths or 0 in lengths:
            return 0
        known = [length for length in lengths if length is not None]
        return max(known) if known else None
    return _length(data)


def _length(value: Any) -> int | None:
    try:
        return len(value)
    except TypeError:
        return None
