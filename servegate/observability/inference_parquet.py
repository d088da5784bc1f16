"""Inference tables as Parquet files: ``DIR/ENDPOINT/date=YYYY-MM-DD/part-*.parquet``.

Each flush writes one file per endpoint and day, so ``pandas.read_parquet(DIR / ENDPOINT)``
loads an endpoint's whole table (with a ``date`` column from the folder names). Files are
written under hidden names, which Parquet readers skip, and renamed once complete: a reader
never sees half a file.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from servegate.inference_tables import COLUMNS, InferenceRecord, RecordQuery

_TYPES = {"timestamp_ms": pa.int64(), "status_code": pa.int32(), "execution_time_ms": pa.float64()}
SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in COLUMNS])


class ParquetInferenceRecords:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"Parquet files under {root}"

    def write(self, endpoint_name: str, records: list[InferenceRecord]) -> None:
        by_day: dict[str, list[InferenceRecord]] = defaultdict(list)
        for record in records:
            day = time.strftime("%Y-%m-%d", time.gmtime(record["timestamp_ms"] / 1000))
            by_day[day].append(record)
        written: list[tuple[Path, Path]] = []
        try:
            for day, rows in by_day.items():
                folder = self.root / endpoint_name / f"date={day}"
                folder.mkdir(parents=True, exist_ok=True)
                name = f"part-{rows[0]['timestamp_ms']}-{uuid.uuid4().hex[:12]}.parquet"
                hidden = folder / f".{name}.tmp"
                written.append((hidden, folder / name))
                pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), hidden)
        except BaseException:
            for hidden, _ in written:
                hidden.unlink(missing_ok=True)
            raise
        for hidden, final in written:
            os.replace(hidden, final)

    def read(
        self, endpoint_id: str, endpoint_name: str, query: RecordQuery
    ) -> list[InferenceRecord]:
        folder = self.root / endpoint_name
        if not folder.is_dir():
            return []
        condition = pc.field("endpoint_id") == endpoint_id
        if query.since_ms is not None:
            condition &= pc.field("timestamp_ms") >= query.since_ms
        if query.until_ms is not None:
            condition &= pc.field("timestamp_ms") < query.until_ms
        if query.served_model is not None:
            condition &= pc.field("served_model_name") == query.served_model
        table = ds.dataset(folder, format="parquet", schema=SCHEMA).to_table(filter=condition)
        order = "descending" if query.order == "newest" else "ascending"
        found = table.sort_by([("timestamp_ms", order)]).slice(0, query.limit)
        return found.to_pylist()  # type: ignore[return-value]
