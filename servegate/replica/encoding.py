"""Predictions to JSON, in the shapes MLflow's scoring server answers with.

MLflow's ``_get_jsonable_obj`` decides the shape (a DataFrame becomes records, an array a
list); orjson writes it, which also turns NaN into null rather than invalid JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_default = NumpyEncoder().default  # bytes, dates, pydantic models: as MLflow writes them


def encode_predictions(raw: Any, *, unwrapped: bool = False) -> bytes:
    predictions = _get_jsonable_obj(raw, pandas_orient="records")
    body = predictions if unwrapped else {"predictions": predictions}
    return orjson.dumps(body, default=_default, option=_OPTIONS)
