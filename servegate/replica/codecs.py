"""Request formats of the MLflow scoring protocol, one small codec each, in one registry.

A codec says whether it can decode a request and turns it into the data (and params) the
model's predict takes. Parsing and type conversion use MLflow's own helpers, so a replica
reads every body exactly as ``mlflow models serve`` does.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.scoring_server import parse_csv_input, parse_parquet_input
from mlflow.utils.proto_json_utils import dataframe_from_parsed_json, parse_tf_serving_input

from servegate.errors import BadRequest, InvalidParameterValue, UnsupportedMediaType
from servegate.replica.model import LoadedModel, clean_mlflow_message

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
LLM_KEYS = ("messages", "prompt", "input")


@dataclass
class Decoded:
    data: Any
    params: dict[str, Any] | None = None
    unwrapped: bool = False  # answer without the {"predictions": ...} wrapper (LLM input)


class JsonCodec(Protocol):
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
            raise _mlflow_input_error(error) from error
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
            raise _mlflow_input_error(error) from error
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


def _signature_from_type_hints(model: LoadedModel) -> bool:
    check = getattr(model.metadata, "_is_signature_from_type_hint", None)
    return bool(check and check())


def decode_json(body: bytes, model: LoadedModel) -> Decoded:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"The request body is not valid JSON: {error}") from error
    if not isinstance(payload, dict):
        raise BadRequest(
            "The request body must be a JSON object with exactly one of the input fields "
            f"{', '.join(INPUT_KEYS)}; received a JSON {type(payload).__name__}."
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


def decode_csv(body: bytes, model: LoadedModel) -> Decoded:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"The CSV body is not valid UTF-8: {error}") from error
    try:
        return Decoded(parse_csv_input(io.StringIO(text), schema=model.input_schema))
    except MlflowException as error:
        raise _mlflow_input_error(error) from error


def decode_parquet(body: bytes, model: LoadedModel) -> Decoded:
    try:
        return Decoded(parse_parquet_input(io.BytesIO(body)))
    except MlflowException as error:
        raise _mlflow_input_error(error) from error


BODY_DECODERS = {
    "application/json": decode_json,
    "text/csv": decode_csv,
    "application/vnd.apache.parquet": decode_parquet,
}


def decoder_for(content_type: str | None):  # type: ignore[no-untyped-def]
    """The decoder of a Content-Type; 415 for anything the scoring protocol does not take."""
    if not content_type:
        raise UnsupportedMediaType(
            f"A Content-Type header is required: one of {', '.join(BODY_DECODERS)}."
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
    decoder = BODY_DECODERS.get(mime.lower())
    if decoder is None:
        raise UnsupportedMediaType(
            f"Content type '{mime}' is not supported; use one of {', '.join(BODY_DECODERS)}."
        )
    return decoder


def has_rows(data: Any) -> bool:
    """False for a request that carries nothing to predict."""
    if isinstance(data, pd.DataFrame | pd.Series):
        return len(data) > 0
    if isinstance(data, dict):
        return bool(data) and all(_length(value) != 0 for value in data.values())
    return _length(data) != 0


def _length(value: Any) -> int | None:
    try:
        return len(value)
    except TypeError:
        return None
