"""SQLite and Redis online stores: the same semantics, tested the same way."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from servegate.features.online import OnlineStore, open_online_store
from servegate.features.online.base import OnlineStoreUnavailable
from servegate.features.tables import FeatureTable, rows_of
from tests.ports import free_port

SPEND = FeatureTable(
    "spend", ("customer_id",), {"customer_id": "long", "spend": "double"}, id="t-spend"
)
OTHER = FeatureTable(
    "other", ("customer_id",), {"customer_id": "long", "spend": "double"}, id="t-other"
)
DECLINES = FeatureTable(
    "declines",
    ("card",),
    {"card": "string", "declines": "integer", "ts": "timestamp"},
    timestamp_key="ts",
    ttl_seconds=3600,
    id="t-declines",
)


def spend_rows(*pairs: tuple[int, float]) -> list:  # type: ignore[type-arg]
    frame = pd.DataFrame(pairs, columns=["customer_id", "spend"])
    return rows_of(SPEND, frame)


def test_write_then_read_many_keys_in_order(online_store: OnlineStore) -> None:
    assert online_store.write(SPEND, spend_rows(*[(i, i * 1.5) for i in range(200)])) == 200
    keys = [(199,), (5,), (1000,), (0,)]
    assert online_store.read(SPEND, keys, time.time()) == [
        {"spend": 298.5},
        {"spend": 7.5},
        None,
        {"spend": 0.0},
    ]
    assert online_store.read(OTHER, [(5,)], time.time()) == [None], "tables do not mix"
    assert online_store.read(SPEND, [], time.time()) == []


def test_an_upsert_replaces_a_key(online_store: OnlineStore) -> None:
    online_store.write(SPEND, spend_rows((1, 1.0), (2, 2.0)))
    online_store.write(SPEND, spend_rows((1, 10.0)))
    assert online_store.read(SPEND, [(1,), (2,)], time.time()) == [{"spend": 10.0}, {"spend": 2.0}]


def test_an_older_row_never_replaces_a_newer_one(online_store: OnlineStore) -> None:
    now = time.time()
    newer = pd.Timestamp(now - 60, unit="s", tz="UTC")
    older = pd.Timestamp(now - 600, unit="s", tz="UTC")
    frame = pd.DataFrame({"card": ["a"], "declines": [3], "ts": [newer]})
    online_store.write(DECLINES, rows_of(DECLINES, frame))
    late = pd.DataFrame({"card": ["a", "b"], "declines": [9, 1], "ts": [older, older]})
    assert online_store.write(DECLINES, rows_of(DECLINES, late)) == 1, "only b is stored"
    values = online_store.read(DECLINES, [("a",), ("b",)], time.time())
    assert [value["declines"] for value in values] == [3, 1]  # type: ignore[index]


def test_expired_values_read_as_missing(online_store: OnlineStore) -> None:
    now = time.time()
    stale = pd.Timestamp(now - 7200, unit="s", tz="UTC")  # older than the 1 h TTL
    fresh = pd.Timestamp(now - 10, unit="s", tz="UTC")
    frame = pd.DataFrame({"card": ["old", "new"], "declines": [1, 2], "ts": [stale, fresh]})
    online_store.write(DECLINES, rows_of(DECLINES, frame))
    old, new = online_store.read(DECLINES, [("old",), ("new",)], time.time())
    assert old is None
    assert new is not None and new["declines"] == 2


def test_drop_forgets_a_table(online_store: OnlineStore) -> None:
    online_store.write(SPEND, spend_rows((1, 1.0)))
    online_store.write(OTHER, rows_of(OTHER, pd.DataFrame({"customer_id": [1], "spend": [5.0]})))
    online_store.drop(SPEND)
    assert online_store.read(SPEND, [(1,)], time.time()) == [None]
    assert online_store.read(OTHER, [(1,)], time.time()) == [{"spend": 5.0}]


def test_an_unreachable_redis_is_reported() -> None:
    store = open_online_store(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(OnlineStoreUnavailable, match="Redis"):
        store.read(SPEND, [(1,)], time.time())
    with pytest.raises(OnlineStoreUnavailable):
        store.write(SPEND, spend_rows((1, 1.0)))


def test_several_tables_are_read_in_one_round_trip(online_store: OnlineStore) -> None:
    online_store.write(SPEND, spend_rows((1, 1.0), (2, 2.0)))
    online_store.write(OTHER, rows_of(OTHER, pd.DataFrame({"customer_id": [2], "spend": [7.0]})))
    counter = getattr(online_store, "client", None)  # Redis: count the commands it runs
    before = counter.info("commandstats").get("cmdstat_mget", {}).get("calls", 0) if counter else 0
    found = online_store.read_many(
        [(SPEND, [(2,), (3,)]), (OTHER, [(2,), (1,)]), (SPEND, [])], time.time()
    )
    assert found == [[{"spend": 2.0}, None], [{"spend": 7.0}, None], []]
    if counter is not None:
        after = counter.info("commandstats")["cmdstat_mget"]["calls"]
        assert after - before == 1, "one MGET for both tables"
