"""The offline copy of feature tables: every upserted row, kept for training sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select

from servegate.features.online.base import encode_key
from servegate.features.tables import FeatureRow, FeatureTable
from servegate.store.database import Database
from servegate.store.models import FeatureHistoryRow

_CHUNK = 500


class FeatureHistoryStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, table: FeatureTable, rows: Sequence[FeatureRow]) -> None:
        with self.database.session() as session:
            for start in range(0, len(rows), _CHUNK):
                session.execute(
                    insert(FeatureHistoryRow),
                    [
                        {
                            "table_id": table.id,
                            "key": encode_key(row.key),
                            "event_time": row.event_time,
                            "expires_at": row.expires_at,
                            "values": row.values,
                        }
                        for row in rows[start : start + _CHUNK]
                    ],
                )

    def read(self, table: FeatureTable, keys: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Every stored row of the given keys, oldest first."""
        encoded = sorted({encode_key(key) for key in keys})
        found: list[dict[str, Any]] = []
        with self.database.session() as session:
            for start in range(0, len(encoded), _CHUNK):
                query = (
                    select(FeatureHistoryRow)
                    .where(
                        FeatureHistoryRow.table_id == table.id,
                        FeatureHistoryRow.key.in_(encoded[start : start + _CHUNK]),
                    )
                    .order_by(FeatureHistoryRow.event_time, FeatureHistoryRow.id)
                )
                found += [
                    {
                        "key": row.key,
                        "event_time": row.event_time,
                        "expires_at": row.expires_at,
                        "values": row.values,
                    }
                    for row in session.scalars(query)
                ]
        found.sort(key=lambda row: row["event_time"])
        return found

    def drop(self, table: FeatureTable) -> None:
        with self.database.session() as session:
            session.execute(delete(FeatureHistoryRow).where(FeatureHistoryRow.table_id == table.id))
