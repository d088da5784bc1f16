"""What a feature table is, and how rows going into one are checked and typed.

A table has primary key columns (the lookup key), typed feature columns, optionally a
timestamp column (then the online store keeps each key's newest row, and a TTL counts from
that time) and optionally a TTL (older values read as missing). Rows arrive as a pandas
DataFrame (from JSON, CSV or Parquet); every column of the table must be there, no other,
and each value must fit its column's type, or the whole upsert is refused naming the column.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

from servegate.errors import InvalidParameterValue

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
COLUMN_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
KEY_TYPES = ("integer", "long", "string")
TYPES = ("boolean", "integer", "long", "float", "double", "string", "timestamp")
MAX_TTL_S = 10 * 365 * 86400


@dataclass(frozen=True)
class FeatureTable:
    name: str
    primary_keys: tuple[str, ...]
    columns: dict[str, str]  # every column, keys included, to its type
    timestamp_key: str | None = None
    ttl_seconds: float | None = None
    description: str | None = None
    id: str = ""  # set by the store; the online store keys values by it
    created_at: int = 0
    creator: str = ""

    @property
    def features(self) -> list[str]:
        """The columns a lookup can return (all but the primary keys)."""
        return [name for name in self.columns if name not in self.primary_keys]


@dataclass(frozen=True)
class FeatureRow:
    key: tuple[Any, ...]
    values: dict[str, Any]
    event_time: float  # the timestamp column's value, else the time of the upsert
    expires_at: float | None = field(default=None)


def check_table(table: FeatureTable) -> FeatureTable:
    """The table, if its definition holds (400 naming what does not)."""
    if not NAME_PATTERN.match(table.name):
        raise InvalidParameterValue(
            f"Feature table name {table.name!r} is invalid: use letters, digits, '_', '-', '.'."
        )
    if not table.columns:
        raise InvalidParameterValue("A feature table needs a schema: at least its key columns.")
    for column, kind in table.columns.items():
        if not COLUMN_PATTERN.match(column):
            raise InvalidParameterValue(f"Column name {column!r} is invalid.")
        if kind not in TYPES:
            raise InvalidParameterValue(
                f"Column {column!r} has type {kind!r}; use one of {', '.join(TYPES)}."
            )
    if not table.primary_keys:
        raise InvalidParameterValue("primary_keys must name at least one column.")
    for key in table.primary_keys:
        if key not in table.columns:
            raise InvalidParameterValue(f"Primary key {key!r} is not a column of the schema.")
        if table.columns[key] not in KEY_TYPES:
            raise InvalidParameterValue(
                f"Primary key {key!r} has type {table.columns[key]!r}; keys are "
                f"{', '.join(KEY_TYPES)}."
            )
    if len(set(table.primary_keys)) != len(table.primary_keys):
        raise InvalidParameterValue("primary_keys names a column more than once.")
    if table.timestamp_key is not None:
        if table.columns.get(table.timestamp_key) != "timestamp":
            raise InvalidParameterValue(
                f"timestamp_key {table.timestamp_key!r} must be a column of type timestamp."
            )
        if table.timestamp_key in table.primary_keys:
            raise InvalidParameterValue("timestamp_key cannot be a primary key.")
    if table.ttl_seconds is not None and not 0 < table.ttl_seconds <= MAX_TTL_S:
        raise InvalidParameterValue(f"ttl_seconds must be from 1 to {MAX_TTL_S}.")
    if not table.features:
        raise InvalidParameterValue("A feature table needs a column besides its keys.")
    return table


def rows_of(table: FeatureTable, frame: pd.DataFrame, now: float | None = None) -> list[FeatureRow]:
    """The rows of ``frame`` typed for ``table``, in order (``now`` is their time when the
    table has no timestamp column)."""
    now = time.time() if now is None else now
    missing = [column for column in table.columns if column not in frame.columns]
    if missing:
        raise InvalidParameterValue(f"The rows lack column(s) {', '.join(missing)}.")
    extra = [str(column) for column in frame.columns if column not in table.columns]
    if extra:
        raise InvalidParameterValue(
            f"The rows have column(s) {', '.join(extra)} that table '{table.name}' does not."
        )
    required = {*table.primary_keys, table.timestamp_key}
    typed = {
        name: _typed(name, kind, frame[name], name in required)
        for name, kind in table.columns.items()
    }
    times = (
        [_epoch(value) for value in typed[table.timestamp_key]]
        if table.timestamp_key
        else [now] * len(frame)
    )
    rows = []
    for index in range(len(frame)):
        key = tuple(typed[column][index] for column in table.primary_keys)
        values = {column: typed[column][index] for column in table.features}
        expires = times[index] + table.ttl_seconds if table.ttl_seconds else None
        rows.append(FeatureRow(key, values, times[index], expires))
    return rows


def newest_per_key(rows: list[FeatureRow]) -> list[FeatureRow]:
    """Each key's newest row (of equally new ones, the last): what the online store keeps."""
    newest: dict[tuple[Any, ...], FeatureRow] = {}
    for row in rows:
        if row.key not in newest or newest[row.key].event_time <= row.event_time:
            newest[row.key] = row
    return list(newest.values())


def key_of(table: FeatureTable, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The typed key of one lookup (``{key column: value}``); 400 naming a key column that
    is missing, empty or of the wrong type."""
    key = []
    for column in table.primary_keys:
        if column not in values or _missing(values[column]):
            raise InvalidParameterValue(f"key column {column!r} is missing.")
        value = values[column]
        kind = table.columns[column]
        if kind == "string" and not isinstance(value, str):
            raise InvalidParameterValue(f"key column {column!r} is a string; got {value!r}.")
        try:
            key.append(_coerce(kind, value))
        except (TypeError, ValueError) as error:
            raise InvalidParameterValue(
                f"key column {column!r} is {kind}; {value!r} is not ({error})."
            ) from None
    return tuple(key)


def _typed(name: str, kind: str, column: pd.Series, is_key: bool) -> list[Any]:
    values = []
    for position, value in enumerate(column.tolist()):
        if _missing(value):
            if is_key:
                raise InvalidParameterValue(f"Row {position}: column {name!r} is empty.")
            values.append(None)
            continue
        try:
            values.append(_coerce(kind, value))
        except (TypeError, ValueError) as error:
            raise InvalidParameterValue(
                f"Row {position}: column {name!r} is {kind}; {value!r} is not ({error})."
            ) from None
    return values


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _coerce(kind: str, value: Any) -> Any:
    if kind in ("integer", "long"):
        if isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        number = float(value) if not isinstance(value, int) else value
        if isinstance(number, float) and not number.is_integer():
            raise ValueError("it has a fraction")
        return int(number)
    if kind in ("float", "double"):
        if isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        return float(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if value in (0, 1):
            return bool(value)
        raise ValueError("use true or false")
    if kind == "string":
        if isinstance(value, (dict, list)):
            raise ValueError("not a scalar")
        return str(value)
    return utc(value).isoformat()


def utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _epoch(value: Any) -> float:
    return utc(value).timestamp()


def table_json(table: FeatureTable) -> dict[str, Any]:
    """The definition as the API shows it (and as a replica reads it)."""
    body: dict[str, Any] = {
        "name": table.name,
        "id": table.id,
        "primary_keys": list(table.primary_keys),
        "schema": [{"name": name, "type": kind} for name, kind in table.columns.items()],
        "features": table.features,
        "creator": table.creator,
        "creation_timestamp": table.created_at,
    }
    for optional in ("timestamp_key", "ttl_seconds", "description"):
        if getattr(table, optional) is not None:
            body[optional] = getattr(table, optional)
    return body


def table_from_json(item: Mapping[str, Any]) -> FeatureTable:
    return FeatureTable(
        name=item["name"],
        primary_keys=tuple(item["primary_keys"]),
        columns={column["name"]: column["type"] for column in item["schema"]},
        timestamp_key=item.get("timestamp_key"),
        ttl_seconds=item.get("ttl_seconds"),
        description=item.get("description"),
        id=item.get("id", ""),
        created_at=item.get("creation_timestamp", 0),
        creator=item.get("creator", ""),
    )


def tables_from_json(data: bytes) -> list[FeatureTable]:
    return [table_from_json(item) for item in orjson.loads(data)]
