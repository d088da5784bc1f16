"""Request bodies as clients send them, and as they get them wrong: for the properties the
replica's decoders must keep (fast path = pyfunc, a decoded frame = MLflow's)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer

FEATURES, LABELS = load_breast_cancer(return_X_y=True, as_frame=True)
COLUMNS = list(FEATURES.columns)

MATRIX = FEATURES.to_numpy()
# Realistic rows (a patient's features, scaled a little), so probabilities are not all 0 or 1
# and any difference in the arithmetic shows; sometimes whole numbers, as clients send them.
row_numbers = st.builds(
    lambda index, scale, whole: [
        round(value * scale) if whole else float(value * scale) for value in MATRIX[index]
    ],
    st.integers(0, len(MATRIX) - 1),
    st.floats(0.5, 2.0),
    st.booleans(),
)
mistakes = st.sampled_from([True, False, None, "12.5", "abc", [1.0], {"x": 1}, 1e300])


# The features with a category and a flag, as custom models take them: string and boolean
# columns beside the numbers.
TYPED_COLUMNS = [*COLUMNS, "country", "smoker"]
typed_rows = st.builds(
    lambda numbers, country, smoker: [*numbers, country, smoker],
    row_numbers,
    st.one_of(st.sampled_from(["US", "FR", "DE"]), st.text(max_size=3)),
    st.booleans(),
)


@st.composite
def requests(
    draw: st.DrawFn,
    rows_of: st.SearchStrategy[list[Any]] = row_numbers,
    columns: list[str] = COLUMNS,
) -> bytes:
    """Up to 40 rows; sometimes one value, or the columns, are what a client gets wrong."""
    rows = draw(st.lists(rows_of, min_size=1, max_size=40))
    width = len(columns)
    if draw(st.integers(0, 3)) == 0:
        row, column = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, width - 1))
        rows[row][column] = draw(mistakes)
    columns = list(columns)
    if draw(st.booleans()):
        columns = draw(st.permutations(columns))
    change = draw(st.sampled_from(["none", "none", "drop", "extra", "rename"]))
    if change == "drop":
        index = draw(st.integers(0, width - 1))
        columns, rows = columns[:index] + columns[index + 1 :], [r[: width - 1] for r in rows]
    elif change == "extra":
        columns, rows = [*columns, "extra"], [[*r, 1.0] for r in rows]
    elif change == "rename":
        columns = ["renamed", *columns[1:]]
    form = draw(st.sampled_from(["split", "records", "instances", "inputs", "columns"]))
    if form == "split":
        split: dict[str, Any] = {"columns": columns, "data": rows}
        if draw(st.booleans()):
            split["index"] = draw(indexes(len(rows)))
        return orjson.dumps({"dataframe_split": split})
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    if form == "columns":
        by_column = {name: [record[name] for record in records] for name in columns}
        return orjson.dumps({"inputs": by_column})
    key = {"records": "dataframe_records", "instances": "instances", "inputs": "inputs"}[form]
    return orjson.dumps({key: records})


def indexes(rows: int) -> st.SearchStrategy[Any]:
    """A ``dataframe_split`` index: one label per row as pandas writes it, labels a client
    chose, or the wrong length or kind."""
    return st.one_of(
        st.just(list(range(rows))),
        st.lists(st.integers(-(2**63), 2**63 - 1), min_size=rows, max_size=rows),
        st.lists(st.text(max_size=3), min_size=rows, max_size=rows),
        st.lists(st.one_of(st.integers(-9, 9), st.text(max_size=2)), min_size=rows, max_size=rows),
        st.lists(st.integers(0, 9), max_size=rows + 2),
        st.sampled_from([None, 3, "a", [[0]], [0.5], [True], {"a": 0}]),
    )
