"""Requests to a signature of required columns, decoded with certainty and without pandas'
per-column casts.

MLflow's decoding builds a DataFrame from the parsed JSON and then casts it to the signature
column by column, each cast a copy and a new block: most of a small request's time on the
pyfunc path. When every input is a required ``double`` column, what pyfunc's enforcement
hands the model is a float64 column per signature column, in signature order. Here the JSON
numbers go straight into one float64 matrix in signature order, for ``dataframe_split``,
``dataframe_records``, ``instances`` (records) and ``inputs`` (records or columns): the fast
path predicts on the matrix (``servegate.replica.fastpath``), the pyfunc path on a frame of
it. A request this cannot decode with certainty (another format, params, a missing or extra
column, a value of another JSON type than its column's) gets ``None`` and MLflow's decoding,
so errors read exactly as they always did.

``long`` columns may stand beside double ones, or alone. MLflow's decoding casts a long
column's numbers to int64 (2.5 becomes 2); a whole number below 2**53 is exactly a float64, so
such values go into the matrix too, and back into an int64 column of the frame. A value that
is not such a whole number leaves the request to MLflow. The fast path takes the matrix as it
is: scikit-learn turns pyfunc's frame of int64 and float64 columns into the same float64 array.

``string`` and ``boolean`` columns (a custom model's categories and flags) go into the frame
only, column by column: JSON strings into the string column pandas makes of them, as MLflow's
decoding does, and ``true``/``false`` into a bool one; anything else in them (a number, a
null, a string holding a NUL, which MLflow's numpy strings may cut) leaves the request to
MLflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
from mlflow.types.schema import ColSpec, DataType, Schema

NUMBERS = frozenset({DataType.double, DataType.long})
FRAME_KINDS = NUMBERS | {DataType.string, DataType.boolean}
_NUMBER_TYPES = (int, float)  # bool is a subclass of int: excluded by the exact type check
_EXACT_WHOLE = 2.0**53  # a whole number smaller than this in size is exactly a float64
_VALUE_TYPE = {DataType.string: str, DataType.boolean: bool}


@dataclass(frozen=True)
class _Table:
    """A request's values, checked to hold every signature column once: rows (a
    ``dataframe_split``'s, in its column order, or records put in signature order) or
    columns (in signature order)."""

    rows: list[list[Any]] | None = None
    order: Sequence[str] | None = None  # the rows' column order, if not the signature's
    columns: list[list[Any]] | None = None

    def numbers(self, signature: tuple[str, ...]) -> np.ndarray | None:
        """Every value as a float64 matrix in signature order, if all are JSON numbers."""
        if self.columns is not None:
            matrix = _numbers(self.columns)
            return None if matrix is None else np.asfortranarray(matrix.T)
        assert self.rows is not None
        matrix = _numbers(self.rows)
        if matrix is None or self.order is None:
            return matrix
        position = {name: index for index, name in enumerate(self.order)}
        return matrix[:, [position[name] for name in signature]]

    def column(self, signature: tuple[str, ...], at: int) -> list[Any]:
        """The values of the signature's column ``at``."""
        if self.columns is not None:
            return self.columns[at]
        assert self.rows is not None
        where = at if self.order is None else list(self.order).index(signature[at])
        return [row[where] for row in self.rows]


@dataclass(frozen=True)
class SignatureRows:
    columns: tuple[str, ...]
    types: tuple[DataType, ...]
    whole: tuple[int, ...] = field(init=False)  # positions of the long columns
    others: tuple[int, ...] = field(init=False)  # ... of the string and boolean ones

    def __post_init__(self) -> None:
        kinds = list(enumerate(self.types))
        object.__setattr__(self, "whole", tuple(i for i, t in kinds if t == DataType.long))
        object.__setattr__(self, "others", tuple(i for i, t in kinds if t not in NUMBERS))

    @property
    def described(self) -> str:
        """Its columns, for the build log: "27 double and 3 long columns"."""
        counts = [
            f"{self.types.count(kind)} {kind.name}"
            for kind in (DataType.double, DataType.long, DataType.string, DataType.boolean)
            if kind in self.types
        ]
        listed = counts[0] if len(counts) == 1 else f"{', '.join(counts[:-1])} and {counts[-1]}"
        return f"{listed} columns"

    def matrix(self, body: bytes) -> np.ndarray | None:
        """The request as a float64 matrix in signature order, or None if not certain. Only
        for a signature of number columns."""
        assert not self.others, "string and boolean columns go into frames only"
        payload = _single_input(body)
        table = None if payload is None else self._table(payload)
        return None if table is None else self._checked(table.numbers(self.columns))

    def frame(self, body: bytes) -> pd.DataFrame | None:
        """The request as the frame pyfunc would hand the model, or None if not certain; a
        ``dataframe_split`` keeps its ``index``, as MLflow's decoding does."""
        payload = _single_input(body)
        table = None if payload is None else self._table(payload)
        if payload is None or table is None:
            return None
        split = payload.get("dataframe_split")
        index = split.get("index") if isinstance(split, dict) else None
        if not self.others:
            rows = self._checked(table.numbers(self.columns))
            if rows is None:
                return None
            if not self.whole:
                return pd.DataFrame(rows, columns=list(self.columns), index=index)
            columns = {
                name: rows[:, i].astype(np.int64) if i in self.whole else rows[:, i]
                for i, name in enumerate(self.columns)
            }
            return pd.DataFrame(columns, index=index)
        values = {}
        for at, (name, kind) in enumerate(zip(self.columns, self.types, strict=True)):
            column = self._column(table.column(self.columns, at), kind)
            if column is None:
                return None
            values[name] = column
        return pd.DataFrame(values, index=index)

    def _column(self, values: list[Any], kind: DataType) -> Any:
        """One column's values as the frame holds them, or None if not certain."""
        if kind in NUMBERS:
            numbers = _numbers([values])
            if numbers is None:
                return None
            column = numbers[0]
            if kind == DataType.double:
                return column
            checked = self._checked_whole(column)
            return None if checked is None else checked.astype(np.int64)
        wanted = _VALUE_TYPE[kind]
        if any(type(value) is not wanted for value in values):
            return None
        if kind == DataType.boolean:
            return np.array(values, dtype=bool)
        # MLflow reads ``instances`` and ``inputs`` into numpy strings, which drop trailing NULs.
        return None if any("\x00" in value for value in values) else values

    def _checked(self, matrix: np.ndarray | None) -> np.ndarray | None:
        """``matrix``, its long columns whole numbers that a float64 holds exactly."""
        if matrix is None or not self.whole:
            return matrix
        longs = self._checked_whole(matrix[:, self.whole])
        if longs is None:
            return None
        matrix[:, self.whole] = longs
        return matrix

    @staticmethod
    def _checked_whole(longs: np.ndarray) -> np.ndarray | None:
        if not (np.all(np.abs(longs) < _EXACT_WHOLE) and np.all(np.floor(longs) == longs)):
            return None
        return longs + 0.0  # -0.0 is 0 as a long

    def _table(self, payload: dict[str, Any]) -> _Table | None:
        if "dataframe_split" in payload:
            return self._split(payload["dataframe_split"])
        if "dataframe_records" in payload:
            return self._records(payload["dataframe_records"])
        if "instances" in payload:
            return self._records(payload["instances"])
        if "inputs" in payload:
            inputs = payload["inputs"]
            return self._by_column(inputs) if isinstance(inputs, dict) else self._records(inputs)
        return None

    def _split(self, split: Any) -> _Table | None:
        if not isinstance(split, dict) or set(split) - {"columns", "data", "index"}:
            return None
        columns, rows = split.get("columns"), split.get("data")
        if not isinstance(columns, list) or not isinstance(rows, list) or not rows:
            return None
        if len(columns) != len(self.columns) or set(columns) != set(self.columns):
            return None
        if any(not isinstance(row, list) or len(row) != len(columns) for row in rows):
            return None
        index = split.get("index")
        if index is not None and not _plain_index(index, len(rows)):
            return None  # pandas would refuse it, or build an index this does not vouch for
        return _Table(rows=rows, order=None if tuple(columns) == self.columns else columns)

    def _records(self, records: Any) -> _Table | None:
        if not isinstance(records, list) or not records:
            return None
        expected = set(self.columns)
        if any(not isinstance(record, dict) or record.keys() != expected for record in records):
            return None
        return _Table(rows=[[record[name] for name in self.columns] for record in records])

    def _by_column(self, columns: dict[str, Any]) -> _Table | None:
        """``{"column": [values...], ...}``: every signature column, equally long lists."""
        if columns.keys() != set(self.columns):
            return None
        values = [columns[name] for name in self.columns]
        if any(not isinstance(column, list) for column in values):
            return None
        if not values[0] or any(len(column) != len(values[0]) for column in values):
            return None
        return _Table(columns=values)


def signature_rows(
    schema: Schema | None, kinds: frozenset[DataType] = NUMBERS
) -> SignatureRows | str:
    """The decoder for a signature of required columns of ``kinds``, or why there is none."""
    if schema is None or not schema.has_input_names():
        return "the signature does not name its input columns"
    for spec in schema.inputs:
        if not isinstance(spec, ColSpec) or spec.type not in kinds or not spec.required:
            wanted = " or ".join(kind.name for kind in DataType if kind in kinds)
            return f"input '{spec.name}' is not a required {wanted} column"
    return SignatureRows(
        tuple(spec.name for spec in schema.inputs), tuple(spec.type for spec in schema.inputs)
    )


def _single_input(body: bytes) -> dict[str, Any] | None:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict) or len(payload) != 1:
        return None  # params, or several inputs: MLflow's decoding decides
    return payload


def _plain_index(index: Any, rows: int) -> bool:
    """One whole number or string per row."""
    if not isinstance(index, list) or len(index) != rows:
        return False
    return all(type(label) is int or type(label) is str for label in index)


def _numbers(rows: Sequence[Sequence[Any]]) -> np.ndarray | None:
    """Rows of JSON numbers (ints or floats, no booleans, no nulls) as a column-major
    float64 matrix (as pandas lays a frame out: BLAS rounds a matrix product differently for
    the other layout), else None."""
    for row in rows:
        for value in row:
            if type(value) not in _NUMBER_TYPES:
                return None
    return np.array(rows, dtype=np.float64, order="F")
