"""Inference tables in the store's database (the default sink): one ``inference_records``
table for every endpoint, read by endpoint and time."""

from __future__ import annotations

from sqlalchemy import Table, select

from servegate.inference_tables import COLUMNS, InferenceRecord, RecordQuery
from servegate.store.database import Database
from servegate.store.models import InferenceRecordRow

_COLUMNS = tuple(getattr(InferenceRecordRow, name) for name in COLUMNS)
_TABLE: Table = InferenceRecordRow.__table__  # type: ignore[assignment]


class InferenceRecordStore:
    description = "the store's database (table inference_records)"

    def __init__(self, database: Database) -> None:
        self.database = database

    def write(self, endpoint_name: str, records: list[InferenceRecord]) -> None:
        with self.database.session() as session:  # a Core insert: the ORM's costs 2x more
            session.execute(_TABLE.insert(), records)

    def read(
        self, endpoint_id: str, endpoint_name: str, query: RecordQuery
    ) -> list[InferenceRecord]:
        row = InferenceRecordRow
        statement = select(*_COLUMNS).where(row.endpoint_id == endpoint_id)
        if query.since_ms is not None:
            statement = statement.where(row.timestamp_ms >= query.since_ms)
        if query.until_ms is not None:
            statement = statement.where(row.timestamp_ms < query.until_ms)
        if query.served_model is not None:
            statement = statement.where(row.served_model_name == query.served_model)
        if query.order == "newest":
            statement = statement.order_by(row.timestamp_ms.desc(), row.id.desc())
        else:
            statement = statement.order_by(row.timestamp_ms, row.id)
        with self.database.session() as session:
            found = session.execute(statement.limit(query.limit))
            return [InferenceRecord(**record._mapping) for record in found]
