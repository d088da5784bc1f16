"""Feature table definitions and the typing of rows going into them."""

from __future__ import annotations

import pandas as pd
import pytest

from servegate.errors import InvalidParameterValue
from servegate.features.tables import FeatureTable, check_table, key_of, newest_per_key, rows_of

SPEND = FeatureTable(
    "spend",
    ("customer_id",),
    {"customer_id": "long", "spend_30d": "double", "orders": "integer", "vip": "boolean"},
)
EVENTS = FeatureTable(
    "events",
    ("card", "merchant"),
    {"card": "string", "merchant": "integer", "declines": "integer", "ts": "timestamp"},
    timestamp_key="ts",
    ttl_seconds=3600,
)


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        (FeatureTable("bad name!", ("k",), {"k": "long", "v": "double"}), "name"),
        (FeatureTable("t", ("k",), {"k": "long", "v": "decimal"}), "type 'decimal'"),
        (FeatureTable("t", ("x",), {"k": "long", "v": "double"}), "Primary key 'x'"),
        (FeatureTable("t", ("v",), {"k": "long", "v": "double"}), "keys are integer"),
        (FeatureTable("t", ("k",), {"k": "long"}), "besides its keys"),
        (FeatureTable("t", ("k",), {"k": "long", "v": "double"}, timestamp_key="v"), "timestamp"),
        (FeatureTable("t", ("k",), {"k": "long", "v": "double"}, ttl_seconds=0), "ttl_seconds"),
    ],
)
def test_bad_definitions_are_refused(table: FeatureTable, fragment: str) -> None:
    with pytest.raises(InvalidParameterValue, match=fragment):
        check_table(table)


def test_rows_are_typed() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2.0],
            "spend_30d": [10, None],
            "orders": ["3", 4],
            "vip": ["true", False],
        }
    )
    rows = rows_of(SPEND, frame, now=100.0)
    assert [(row.key, row.values) for row in rows] == [
        ((1,), {"spend_30d": 10.0, "orders": 3, "vip": True}),
        ((2,), {"spend_30d": None, "orders": 4, "vip": False}),
    ]
    assert {row.event_time for row in rows} == {100.0}
    assert rows[0].expires_at is None


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (pd.DataFrame({"customer_id": [1], "spend_30d": [1.0], "orders": [1]}), "lack column"),
        (
            pd.DataFrame(
                {"customer_id": [1], "spend_30d": [1.0], "orders": [1], "vip": [True], "x": [0]}
            ),
            "column(s) x that",
        ),
        (
            pd.DataFrame({"customer_id": [None], "spend_30d": [1.0], "orders": [1], "vip": [True]}),
            "Row 0: column 'customer_id' is empty",
        ),
        (
            pd.DataFrame({"customer_id": [1], "spend_30d": [1.0], "orders": [1.5], "vip": [True]}),
            "column 'orders' is integer; 1.5 is not",
        ),
        (
            pd.DataFrame({"customer_id": [1], "spend_30d": ["lots"], "orders": [1], "vip": [1]}),
            "column 'spend_30d' is double",
        ),
        (
            pd.DataFrame({"customer_id": [1], "spend_30d": [1.0], "orders": [1], "vip": ["no"]}),
            "column 'vip' is boolean",
        ),
    ],
)
def test_bad_rows_are_refused_naming_the_column(frame: pd.DataFrame, fragment: str) -> None:
    with pytest.raises(InvalidParameterValue) as error:
        rows_of(SPEND, frame)
    assert fragment in error.value.message


def test_with_a_timestamp_the_newest_row_of_a_key_wins_and_ttl_counts_from_it() -> None:
    frame = pd.DataFrame(
        {
            "card": ["a", "a", "b"],
            "merchant": [7, 7, 7],
            "declines": [5, 1, 2],
            "ts": ["2026-11-01T10:00:00Z", "2026-11-01T09:00:00Z", "2026-11-01 08:00:00"],
        }
    )
    assert len(rows_of(EVENTS, frame)) == 3, "every row, for the history"
    rows = {row.key: row for row in newest_per_key(rows_of(EVENTS, frame))}
    assert rows[("a", 7)].values == {"declines": 5, "ts": "2026-11-01T10:00:00+00:00"}
    newest = pd.Timestamp("2026-11-01T10:00:00Z").timestamp()
    assert rows[("a", 7)].event_time == newest
    assert rows[("a", 7)].expires_at == newest + 3600
    assert rows[("b", 7)].values["ts"] == "2026-11-01T08:00:00+00:00", "naive times are UTC"


def test_lookup_keys_are_typed_and_checked() -> None:
    assert key_of(EVENTS, {"card": "a", "merchant": "7"}) == ("a", 7)
    assert key_of(SPEND, {"customer_id": 3.0}) == (3,)
    with pytest.raises(InvalidParameterValue, match="'merchant' is missing"):
        key_of(EVENTS, {"card": "a"})
    with pytest.raises(InvalidParameterValue, match="'card' is a string"):
        key_of(EVENTS, {"card": 12, "merchant": 7})
    with pytest.raises(InvalidParameterValue, match="'customer_id' is long"):
        key_of(SPEND, {"customer_id": "twelve"})
