"""Rows sent over HTTP (JSON, CSV or Parquet) as a pandas DataFrame, without a model's
signature to go by: for feature table upserts and feature serving requests."""

from __future__ import annotations

import io

import orjson
import pandas as pd

from servegate.errors import BadRequest


def frame_of(content_type: str, body: bytes) -> pd.DataFrame:
    """Rows sent as JSON (``dataframe_records``, ``dataframe_split`` or ``rows``), CSV or
    Parquet."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        if kind == "text/csv":
            return pd.read_csv(io.BytesIO(body))
        if kind in ("application/vnd.apache.parquet", "application/x-parquet"):
            return pd.read_parquet(io.BytesIO(body))
    except Exception as error:  # noqa: BLE001 - any parse failure is the sender's
        raise BadRequest(f"Could not read the rows as {kind}: {error}") from error
    if kind not in ("application/json", ""):
        raise BadRequest(
            f"Unsupported content type {kind!r}: send application/json, text/csv or "
            "application/vnd.apache.parquet."
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"Request body is not valid JSON: {error}") from error
    if not isinstance(data, dict) or len(data) != 1:
        raise BadRequest("Send the rows as one of dataframe_records, dataframe_split or rows.")
    ((form, rows),) = data.items()
    try:
        if form in ("dataframe_records", "rows") and isinstance(rows, list):
            return pd.DataFrame.from_records(rows)
        if form == "dataframe_split" and isinstance(rows, dict):
            return pd.DataFrame(rows.get("data"), columns=rows.get("columns"))
    except (TypeError, ValueError) as error:
        raise BadRequest(f"Could not read the rows: {error}") from error
    raise BadRequest("Send the rows as one of dataframe_records, dataframe_split or rows.")
