"""Both inference table sinks keep records the same way and answer queries alike: the
store's table on real SQLite and PostgreSQL, and Parquet files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from servegate.inference_tables import InferenceRecord, RecordQuery, RecordSink
from servegate.observability.inference_parquet import ParquetInferenceRecords
from servegate.store.database import Database
from servegate.store.inference_records import InferenceRecordStore
from tests.postgres import fresh_postgres_database

DAY_MS = 86_400_000
START_MS = 1_764_000_000_000  # 2025-11-24, 16:00 UTC


@pytest.fixture(params=["sqlite", "postgresql", "parquet"])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecordSink]:
    if request.param == "parquet":
        yield ParquetInferenceRecords(tmp_path / "inference")
        return
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'store.db'}")
        database.migrate()
        yield InferenceRecordStore(database)
        database.dispose()
        return
    with fresh_postgres_database() as url:
        database = Database(url)
        database.migrate()
        yield InferenceRecordStore(database)
        database.dispose()


def record(i: int, endpoint: str = "e1", **changes: object) -> InferenceRecord:
    fields: dict = {
        "request_id": f"r{i}",
        "client_request_id": f"c{i}" if i % 2 else None,
        "endpoint_id": endpoint,
        "endpoint_name": "shop",
        "served_model_name": "a" if i % 3 else "b",
        "model_name": "churn",
        "model_version": "3",
        "timestamp_ms": START_MS + i * DAY_MS // 4,  # four a day: several days
        "status_code": 200 if i % 5 else 400,
        "execution_time_ms": 1.5 + i,
        "requester": "ana@example.com",
        "request": '{"inputs": [' + str(i) + "]}",
        "response": None if i == 7 else '{"predictions": [1]}',
    }
    return InferenceRecord(**{**fields, **changes})  # type: ignore[typeddict-item]


def test_written_records_read_back_by_time_and_model(sink: RecordSink) -> None:
    records = [record(i) for i in range(12)]
    sink.write("shop", records[:5])
    sink.write("shop", records[5:])
    # An earlier endpoint of the same name (deleted, made again): not this one's records.
    sink.write("shop", [record(99, endpoint="e0")])

    everything = sink.read("e1", "shop", RecordQuery(limit=100))
    assert everything == list(reversed(records)), "all fields, newest first"
    oldest = sink.read("e1", "shop", RecordQuery(limit=3, order="oldest"))
    assert [r["request_id"] for r in oldest] == ["r0", "r1", "r2"]
    window = RecordQuery(since_ms=records[3]["timestamp_ms"], until_ms=records[8]["timestamp_ms"])
    assert [r["request_id"] for r in sink.read("e1", "shop", window)] == [
        "r7",
        "r6",
        "r5",
        "r4",
        "r3",
    ]
    only_b = sink.read("e1", "shop", RecordQuery(served_model="b"))
    assert [r["request_id"] for r in only_b] == ["r9", "r6", "r3", "r0"]
    assert sink.read("e2", "other", RecordQuery()) == []


def test_parquet_files_are_an_endpoint_table_for_pandas(tmp_path: Path) -> None:
    sink = ParquetInferenceRecords(tmp_path)
    records = [record(i) for i in range(8)]
    sink.write("shop", records)
    days = sorted(path.parent.name for path in (tmp_path / "shop").rglob("*.parquet"))
    assert days == ["date=2025-11-24", "date=2025-11-25", "date=2025-11-26"]
    assert not list(tmp_path.rglob(".*")), "no hidden half-written files left"
    frame = pd.read_parquet(tmp_path / "shop").sort_values("timestamp_ms")
    assert list(frame["request_id"]) == [r["request_id"] for r in records]
    assert frame["status_code"].tolist() == [r["status_code"] for r in records]
    assert frame["response"].isna().tolist() == [r["response"] is None for r in records]
