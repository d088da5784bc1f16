"""The audit log in the store."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from servegate.store.database import Database
from servegate.store.models import AuditEventRow


class AuditStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, events: Iterable[AuditEventRow]) -> None:
        with self.database.session() as session:
            session.add_all(list(events))

    def list(
        self, since_ms: int = 0, principal: str | None = None, limit: int = 1000
    ) -> list[AuditEventRow]:
        with self.database.session() as session:
            query = (
                select(AuditEventRow)
                .where(AuditEventRow.timestamp >= since_ms)
                .order_by(AuditEventRow.id.desc())
                .limit(limit)
            )
            if principal is not None:
                query = query.where(AuditEventRow.principal == principal)
            return list(reversed(list(session.scalars(query))))
