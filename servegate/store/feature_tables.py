"""Feature table definitions in the store."""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from servegate.errors import ResourceAlreadyExists, ResourceDoesNotExist
from servegate.features.tables import FeatureTable
from servegate.store.database import Database, now_ms
from servegate.store.models import FeatureTableRow


def _table(row: FeatureTableRow) -> FeatureTable:
    return FeatureTable(
        name=row.name,
        primary_keys=tuple(row.primary_keys),
        columns={name: kind for name, kind in row.columns},
        timestamp_key=row.timestamp_key,
        ttl_seconds=row.ttl_seconds,
        description=row.description,
        id=row.id,
        created_at=row.created_at,
        creator=row.creator,
    )


class FeatureTableStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create(self, table: FeatureTable, creator: str) -> FeatureTable:
        table = replace(table, id=uuid.uuid4().hex, created_at=now_ms(), creator=creator)
        try:
            with self.database.session() as session:
                session.add(
                    FeatureTableRow(
                        name=table.name,
                        id=table.id,
                        primary_keys=list(table.primary_keys),
                        columns=[[name, kind] for name, kind in table.columns.items()],
                        timestamp_key=table.timestamp_key,
                        ttl_seconds=table.ttl_seconds,
                        description=table.description,
                        creator=creator,
                        created_at=table.created_at,
                    )
                )
        except IntegrityError:
            raise ResourceAlreadyExists(f"Feature table '{table.name}' already exists.") from None
        return table

    def get(self, name: str) -> FeatureTable:
        with self.database.session() as session:
            row = session.get(FeatureTableRow, name)
            if row is None:
                raise ResourceDoesNotExist(f"Feature table '{name}' does not exist.")
            return _table(row)

    def list(self) -> list[FeatureTable]:
        with self.database.session() as session:
            rows = session.scalars(select(FeatureTableRow).order_by(FeatureTableRow.name))
            return [_table(row) for row in rows]

    def delete(self, name: str) -> FeatureTable:
        with self.database.session() as session:
            row = session.get(FeatureTableRow, name)
            if row is None:
                raise ResourceDoesNotExist(f"Feature table '{name}' does not exist.")
            table = _table(row)
            session.delete(row)
            return table
