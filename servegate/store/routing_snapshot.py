"""The routing snapshot in the store: written by the leading gateway, polled by the others."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update

from servegate.store.database import Database
from servegate.store.models import RoutingSnapshotRow

_ROW_ID = 1


class RoutingSnapshotStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def publish(self, body: dict[str, Any], leader: str) -> int:
        """Replace the snapshot; returns its new generation."""
        written_at = int(time.time() * 1000)
        with self.database.session() as session:
            row = session.get(RoutingSnapshotRow, _ROW_ID, with_for_update=True)
            if row is None:
                session.add(
                    RoutingSnapshotRow(
                        id=_ROW_ID, generation=1, leader=leader, body=body, written_at=written_at
                    )
                )
                return 1
            session.execute(
                update(RoutingSnapshotRow)
                .where(RoutingSnapshotRow.id == _ROW_ID)
                .values(
                    generation=RoutingSnapshotRow.generation + 1,
                    leader=leader,
                    body=body,
                    written_at=written_at,
                )
            )
            return row.generation + 1

    def generation(self) -> int:
        """The current generation (0 before any leader published)."""
        with self.database.session() as session:
            query = select(RoutingSnapshotRow.generation).where(RoutingSnapshotRow.id == _ROW_ID)
            return session.scalar(query) or 0

    def read(self) -> tuple[int, dict[str, Any]]:
        with self.database.session() as session:
            row = session.get(RoutingSnapshotRow, _ROW_ID)
            return (row.generation, row.body) if row else (0, {})
