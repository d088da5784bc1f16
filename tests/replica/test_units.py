"""The replica's pure pieces, without a server: content types, failure messages, encoding."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from mlflow.types.schema import ColSpec, Schema

from servegate.errors import UnsupportedMediaType
from servegate.replica.codecs import BODY_CODECS, codec_for, row_count
from servegate.replica.encoding import encode_predictions
from servegate.replica.enforcement import first_unconvertible_value

SCHEMA = Schema([ColSpec("double", "mean radius"), ColSpec("long", "count")])


@pytest.mark.parametrize(
    ("header", "content_type"),
    [
        ("application/json", "application/json"),
        ("Application/JSON; charset=UTF-8", "application/json"),
        ("text/csv", "text/csv"),
        ("application/vnd.apache.parquet", "application/vnd.apache.parquet"),
    ],
)
def test_codec_for_known_types(header: str, content_type: str) -> None:
    assert codec_for(header) is BODY_CODECS[content_type]


@pytest.mark.parametrize(
    "header",
    [None, "", "text/plain", "application/json; format=pandas-records", "text/csv; charset=ascii"],
)
def test_codec_for_refuses(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        codec_for(header)


@pytest.mark.parametrize(
    "data",
    [
        [{"mean radius": 1.0, "count": 2}, {"mean radius": "abc", "count": 3}],
        {"columns": ["count", "mean radius"], "data": [[1, 2.0], [2, "abc"]]},
        {"mean radius": [1.0, "abc"], "count": [1, 2]},
    ],
    ids=["records", "split", "columns"],
)
def test_first_unconvertible_value_names_column_and_type(data: object) -> None:
    assert first_unconvertible_value(data, SCHEMA) == (
        "Column 'mean radius': expected double, got string 'abc'"
    )


def test_first_unconvertible_value_none_when_all_convert() -> None:
    assert first_unconvertible_value([{"mean radius": "1.5", "count": 2}], SCHEMA) is None
    assert first_unconvertible_value([{"mean radius": "x"}], None) is None


def test_row_count() -> None:
    assert row_count(pd.DataFrame({"a": [1]})) == 1
    assert row_count(pd.DataFrame({"a": []})) == 0
    assert row_count({}) == 0
    assert row_count({"a": np.array([])}) == 0
    assert row_count({"a": np.zeros(3), "b": np.zeros(3)}) == 3
    assert row_count(np.zeros((2, 3))) == 2
    assert row_count([]) == 0
    assert row_count(7) is None


def test_encoding_shapes() -> None:
    frame = pd.DataFrame({"score": [0.5, np.nan], "label": ["a", "b"]})
    assert orjson.loads(encode_predictions(frame)) == {
        "predictions": [{"score": 0.5, "label": "a"}, {"score": None, "label": "b"}]
    }
    assert orjson.loads(encode_predictions(np.array([1, 0]))) == {"predictions": [1, 0]}
    # As MLflow's server answers: a Series goes through a one-column DataFrame, so records.
    series = pd.Series([1.5, 2.5], name="p")
    assert orjson.loads(encode_predictions(series)) == {"predictions": [{"p": 1.5}, {"p": 2.5}]}
    assert orjson.loads(encode_predictions({"a": np.array([1, 2])})) == {
        "predictions": {"a": [1, 2]}
    }
    assert orjson.loads(encode_predictions({"text": "hi"}, unwrapped=True)) == {"text": "hi"}
