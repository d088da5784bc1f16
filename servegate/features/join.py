"""The replica's feature stage: look features up for a request's rows, compute on-demand
ones, and join them to the request before the model sees it.

Values the request gives win, cell by cell: a feature column present and non-null in a row is
neither looked up nor computed for that row. Each lookup reads all its rows' keys in one
round trip to the online store,
whatever the number of tables.
"""

from __future__ import annotations

import contextlib
import time
import typing
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from servegate.errors import InvalidParameterValue, TemporarilyUnavailable
from servegate.features.online.base import FeatureReader, OnlineStoreUnavailable
from servegate.features.spec import FeatureLookup, FeatureSpec, check_lookups
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
        check_lookups(spec.lookups, tables)
        self.spec = spec
        self.tables = dict(tables)
        self.store = store
        self.column_types = dict(column_types or {})
        self.on_read: Callable[[float], None] | None = None  # told each read's seconds
        self.input_types = [_input_types(function.function) for function in spec.functions]

    def join(self, frame: pd.DataFrame, as_of: float | None = None) -> pd.DataFrame:
        """``frame`` with its features; values as they are at ``as_of`` (Unix time;
        default now), which only a store with history (training sets) can go back to."""
        frame = frame.copy()
        as_of = time.time() if as_of is None else as_of
        planned = [
            (lookup, *needed)
            for lookup in self.spec.lookups
            if (needed := self._keys_for(frame, lookup)) is not None
        ]
        reads = [(self.tables[lookup.table_name], keys) for lookup, _, keys in planned]
        started = time.perf_counter()
        try:
            found = self.store.read_many(reads, as_of) if reads else []
        except OnlineStoreUnavailable as error:
            raise TemporarilyUnavailable(
                f"The online feature store is unreachable: {error}", retry_after=_RETRY_AFTER_S
            ) from error
        if reads and self.on_read is not None:
            self.on_read(time.perf_counter() - started)
        for (lookup, rows, keys), values in zip(planned, found, strict=True):
            self._fill(frame, lookup, rows, keys, values)
        for function, types in zip(self.spec.functions, self.input_types, strict=True):
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
                    param: _typed_input(output, row, param, frame.at[row, column], types)
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

    def _keys_for(
        self, frame: pd.DataFrame, lookup: FeatureLookup
    ) -> tuple[list[Any], list[tuple[Any, ...]]] | None:
        """The rows that need this lookup and their keys; None if the request gave every
        value."""
        table = self.tables[lookup.table_name]
        outputs = lookup.outputs(table)
        rows = sorted({row for column in outputs.values() for row in _rows_without(frame, column)})
        if not rows:
            return None
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
        return rows, keys

    def _fill(
        self,
        frame: pd.DataFrame,
        lookup: FeatureLookup,
        rows: list[Any],
        keys: list[tuple[Any, ...]],
        found: list[dict[str, Any] | None],
    ) -> None:
        table = self.tables[lookup.table_name]
        key_columns = lookup.key_columns(table)
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
        for feature, column in lookup.outputs(table).items():
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


_SCALARS = (bool, int, float, str)


def _input_types(function: Callable[..., Any]) -> dict[str, type]:
    """The scalar type each annotated parameter asks for (``float | None`` → float)."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - unresolvable annotations: pass values as they are
        return {}
    found = {}
    for param, hint in hints.items():
        options = (
            [hint]
            if hint in _SCALARS
            else [arg for arg in typing.get_args(hint) if arg is not type(None)]
        )
        if len(options) == 1 and options[0] in _SCALARS:
            found[param] = options[0]
    return found


def _typed_input(output: str, row: Any, param: str, value: Any, types: dict[str, type]) -> Any:
    """A function's input as its annotation types it; null stays None."""
    value = _plain(value)
    if _is_null(value):
        return None
    wanted = types.get(param)
    if (
        wanted is None
        or isinstance(value, wanted)
        and not (wanted is int and isinstance(value, bool))
    ):
        return value
    try:
        if wanted is int and isinstance(value, float) and not value.is_integer():
            raise ValueError("it has a fraction")
        if wanted is bool and not isinstance(value, (bool, int)):
            raise ValueError("not a boolean")
        return wanted(value)
    except (TypeError, ValueError) as error:
        raise InvalidParameterValue(
            f"Row {row}: computing '{output}' needs {param} as {wanted.__name__}; "
            f"{value!r} is not ({error})."
        ) from None


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
