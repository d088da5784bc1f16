"""The replica's feature stage: look features up for a request's rows, compute on-demand
ones, and join them to the request before the model sees it.

Values the request gives win, cell by cell: a feature column present and non-null in a row is
neither looked up nor computed for that row. Each lookup reads all its rows' keys in one
round trip to the online store.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from servegate.errors import InvalidParameterValue, TemporarilyUnavailable
from servegate.features.online.base import FeatureReader, OnlineStoreUnavailable
from servegate.features.spec import FeatureLookup, FeatureSpec
from servegate.features.tables import FeatureTable, key_of

_RETRY_AFTER_S = 2
_SHOWN_KEYS = 5


class FeatureJoiner:
    def __init__(
        self,
        spec: FeatureSpec,
        tables: Mapping[str, FeatureTable],
        store: FeatureReader,
        column_types: Mapping[str, Any] | None = None,
    ) -> None:
        """``column_types``: the dtype the model's signature gives a column; a looked-up or
        computed column is cast to it where that keeps every value (an integer feature
        into a double input), so the table's types need not match the model's exactly."""
        spec.check(tables)
        self.spec = spec
        self.tables = dict(tables)
        self.store = store
        self.column_types = dict(column_types or {})

    @property
    def key_columns(self) -> set[str]:
        """Request columns the lookups need."""
        return {
            column
            for lookup in self.spec.lookups
            for column in lookup.key_columns(self.tables[lookup.table_name]).values()
        }

    def join(self, frame: pd.DataFrame, as_of: float | None = None) -> pd.DataFrame:
        """``frame`` with its features; values as they are at ``as_of`` (Unix time;
        default now), which only a store with history (training sets) can go back to."""
        frame = frame.copy()
        as_of = time.time() if as_of is None else as_of
        for lookup in self.spec.lookups:
            self._look_up(frame, lookup, as_of)
        for function in self.spec.functions:
            output = function.output_name
            rows = _rows_without(frame, output)
            if not rows:
                continue
            absent = [c for c in function.input_bindings.values() if c not in frame.columns]
            if absent:
                raise InvalidParameterValue(
                    f"The request lacks column(s) {', '.join(absent)}, needed to compute "
                    f"'{output}'."
                )
            values = _column(frame, output)
            for row in rows:
                arguments = {
                    param: _plain(frame.at[row, column])
                    for param, column in function.input_bindings.items()
                }
                try:
                    values[row] = function.function(**arguments)
                except Exception as error:  # noqa: BLE001 - the row's values made it fail
                    raise InvalidParameterValue(
                        f"Computing '{output}' failed for row {row}: {type(error).__name__}: "
                        f"{error}"
                    ) from error
            self._set(frame, output, values)
        return frame

    def _set(self, frame: pd.DataFrame, column: str, values: dict[Any, Any]) -> None:
        series = pd.Series(list(values.values()), index=frame.index)
        wanted = self.column_types.get(column)
        if wanted is not None:
            with contextlib.suppress(TypeError, ValueError):  # MLflow then names the problem
                series = series.astype(wanted)
        frame[column] = series

    def _look_up(self, frame: pd.DataFrame, lookup: FeatureLookup, as_of: float) -> None:
        table = self.tables[lookup.table_name]
        outputs = lookup.outputs(table)
        rows = sorted({row for column in outputs.values() for row in _rows_without(frame, column)})
        if not rows:
            return  # the request gave every value
        key_columns = lookup.key_columns(table)
        absent = [column for column in key_columns.values() if column not in frame.columns]
        if absent:
            raise InvalidParameterValue(
                f"The request lacks key column(s) {', '.join(absent)}, needed to look up "
                f"features in '{table.name}'."
            )
        keys = []
        for row in rows:
            given = {key: _plain(frame.at[row, column]) for key, column in key_columns.items()}
            try:
                keys.append(key_of(table, given))
            except InvalidParameterValue as error:
                raise InvalidParameterValue(f"Row {row}: {error.message}") from None
        try:
            found = self.store.read(table, keys, as_of)
        except OnlineStoreUnavailable as error:
            raise TemporarilyUnavailable(
                f"The online feature store is unreachable: {error}", retry_after=_RETRY_AFTER_S
            ) from error
        if lookup.on_missing == "error":
            missing = [key for key, values in zip(keys, found, strict=True) if values is None]
            if missing:
                shown = ", ".join(
                    str(dict(zip(key_columns.values(), key, strict=True)))
                    for key in missing[:_SHOWN_KEYS]
                )
                more = (
                    f" and {len(missing) - _SHOWN_KEYS} more" if len(missing) > _SHOWN_KEYS else ""
                )
                raise InvalidParameterValue(
                    f"Table '{table.name}' has no features for {shown}{more}."
                )
        for feature, column in outputs.items():
            values = _column(frame, column)
            for row, looked_up in zip(rows, found, strict=True):
                if _is_null(values[row]):
                    values[row] = looked_up.get(feature) if looked_up else None
            self._set(frame, column, values)


def _column(frame: pd.DataFrame, column: str) -> dict[Any, Any]:
    """A column's values by row (None throughout when the request lacks it); rebuilt into a
    Series afterwards, so pandas infers its type from the values as they end up."""
    if column not in frame.columns:
        return dict.fromkeys(frame.index)
    return {row: _plain(value) for row, value in frame[column].items()}


def _rows_without(frame: pd.DataFrame, column: str) -> list[Any]:
    """Rows where ``column`` is absent or null."""
    if column not in frame.columns:
        return list(frame.index)
    return list(frame.index[frame[column].isna()])


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value a function or key expects."""
    return value.item() if hasattr(value, "item") else value


def describe_features(joiner: FeatureJoiner) -> str:
    """One line for the build log: what the replica looks up and computes."""
    parts = [
        f"{len(lookup.outputs(joiner.tables[lookup.table_name]))} from {lookup.table_name}"
        for lookup in joiner.spec.lookups
    ]
    parts += [f"{function.output_name} computed" for function in joiner.spec.functions]
    return "; ".join(parts) or "none"
