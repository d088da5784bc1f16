"""Requests to a signature of required ``double`` columns, decoded with certainty and without
pandas' per-column casts.

MLflow's decoding builds a DataFrame from the parsed JSON and then casts it to the signature
column by column, each cast a copy and a new block: most of a small request's time on the
pyfunc path. When every input is a required ``double`` column, what pyfunc's enforcement
hands the model is a float64 column per signature column, in signature order. Here the JSON
numbers go straight into one float64 matrix in signature order, for ``dataframe_split``,
``dataframe_records``, ``instances`` (records) and ``inputs`` (records or columns): the fast
path predicts on the matrix (``servegate.replica.fastpath``), the pyfunc path on a frame of
it. A request this cannot decode with certainty (another format, params, a missing or extra
column, a value that is not a JSON number) gets ``None`` and MLflow's decoding, so errors
read exactly as they always did.

``long`` columns may stand beside double ones, or alone. MLflow's decoding casts a long
column's numbers to int64 (2.5 becomes 2); a whole number below 2**53 is exactly a float64, so
such values go into the matrix too, and back into an int64 column of the frame. A value that
is not such a whole number leaves the request to MLflow. The fast path takes the matrix as it
is: scikit-learn turns pyfunc's frame of int64 and float64 columns into the same float64 array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
from mlflow.types.schema import ColSpec, DataType, Schema

_NUMBER_TYPES = (int, float)  # bool is a subclass of int: excluded by the exact type check
_EXACT_WHOLE = 2.0**53  # a whole number smaller than this in size is exactly a float64


@dataclass(frozen=True)
class DoubleRows:
    columns: tuple[str, ...]
    whole: tuple[int, ...] = ()  # positions of the long columns

    @property
    def described(self) -> str:
        """Its columns, for the build log: "27 double and 3 long columns"."""
        doubles, longs = len(self.columns) - len(self.whole), len(self.whole)
        if not longs:
            return f"{doubles} double columns"
        return f"{doubles} double and {longs} long columns" if doubles else f"{longs} long columns"

    def matrix(self, body: bytes) -> np.ndarray | None:
        """The request as a float64 matrix in signature order, or None if not certain."""
        payload = _single_input(body)
        return None if payload is None else self._checked_rows(payload)

    def frame(self, body: bytes) -> pd.DataFrame | None:
        """The request as the frame pyfunc would hand the model, or None if not certain; a
        ``dataframe_split`` keeps its ``index``, as MLflow's decoding does."""
        payload = _single_input(body)
        if payload is None or (rows := self._checked_rows(payload)) is None:
            return None
        split = payload.get("dataframe_split")
        index = split.get("index") if isinstance(split, dict) else None
        if not self.whole:
            return pd.DataFrame(rows, columns=list(self.columns), index=index)
        columns = {
            name: rows[:, i].astype(np.int64) if i in self.whole else rows[:, i]
            for i, name in enumerate(self.columns)
        }
        return pd.DataFrame(columns, index=index)

    def _checked_rows(self, payload: dict[str, Any]) -> np.ndarray | None:
        """The rows, their long columns whole numbers that a float64 holds exactly."""
        matrix = self._rows(payload)
        if matrix is None or not self.whole:
            return matrix
        longs = matrix[:, self.whole]
        if not (np.all(np.abs(longs) < _EXACT_WHOLE) and np.all(np.floor(longs) == longs)):
            return None
        matrix[:, self.whole] = longs + 0.0  # -0.0 is 0 as a long
        return matrix

    def _rows(self, payload: dict[str, Any]) -> np.ndarray | None:
        if "dataframe_split" in payload:
            return self._split(payload["dataframe_split"])
        if "dataframe_records" in payload:
            return self._records(payload["dataframe_records"])
        if "instances" in payload:
            return self._records(payload["instances"])
        if "inputs" in payload:
            inputs = payload["inputs"]
            return self._columns(inputs) if isinstance(inputs, dict) else self._records(inputs)
        return None

    def _split(self, split: Any) -> np.ndarray | None:
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
        matrix = _numbers(rows)
        if matrix is None:
            return None
        if tuple(columns) != self.columns:
            position = {name: index for index, name in enumerate(columns)}
            matrix = matrix[:, [position[name] for name in self.columns]]
        return matrix

    def _records(self, records: Any) -> np.ndarray | None:
        if not isinstance(records, list) or not records:
            return None
        expected = set(self.columns)
        if any(not isinstance(record, dict) or record.keys() != expected for record in records):
            return None
        return _numbers([[record[name] for name in self.columns] for record in records])

    def _columns(self, columns: dict[str, Any]) -> np.ndarray | None:
        """``{"column": [values...], ...}``: every signature column, equally long lists."""
        if columns.keys() != set(self.columns):
            return None
        values = [columns[name] for name in self.columns]
        if any(not isinstance(column, list) for column in values):
            return None
        if not values[0] or any(len(column) != len(values[0]) for column in values):
            return None
        matrix = _numbers(values)
        return None if matrix is None else np.asfortranarray(matrix.T)


def double_rows(schema: Schema | None, longs: bool = False) -> DoubleRows | str:
    """The decoder for a signature of required double columns (with ``longs``, long columns
    too), or why there is none."""
    if schema is None or not schema.has_input_names():
        return "the signature does not name its input columns"
    kinds = (DataType.double, DataType.long) if longs else (DataType.double,)
    for spec in schema.inputs:
        if not isinstance(spec, ColSpec) or spec.type not in kinds or not spec.required:
            wanted = "double or long" if longs else "double"
            return f"input '{spec.name}' is not a required {wanted} column"
    whole = tuple(i for i, spec in enumerate(schema.inputs) if spec.type == DataType.long)
    return DoubleRows(tuple(spec.name for spec in schema.inputs), whole)


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
