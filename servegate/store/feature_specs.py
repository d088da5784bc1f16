"""Named feature specs in the store. Their functions stay pickled here: only a replica
serving the spec unpickles them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from servegate.errors import ResourceAlreadyExists, ResourceDoesNotExist
from servegate.store.database import Database, now_ms
from servegate.store.models import FeatureSpecRow


def spec_body(row: FeatureSpecRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "spec": row.spec,
        "creator": row.creator,
        "creation_timestamp": row.created_at,
    }


class FeatureSpecStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create(self, name: str, spec: dict[str, Any], creator: str) -> dict[str, Any]:
        row = FeatureSpecRow(name=name, spec=spec, creator=creator, created_at=now_ms())
        try:
            with self.database.session() as session:
                session.add(row)
                body = spec_body(row)
        except IntegrityError:
            raise ResourceAlreadyExists(f"Feature spec '{name}' already exists.") from None
        return body

    def get(self, name: str) -> dict[str, Any]:
        with self.database.session() as session:
            row = session.get(FeatureSpecRow, name)
            if row is None:
                raise ResourceDoesNotExist(f"Feature spec '{name}' does not exist.")
            return spec_body(row)

    def list(self) -> list[dict[str, Any]]:
        with self.database.session() as session:
            rows = session.scalars(select(FeatureSpecRow).order_by(FeatureSpecRow.name))
            return [spec_body(row) for row in rows]

    def delete(self, name: str) -> None:
        with self.database.session() as session:
            row = session.get(FeatureSpecRow, name)
            if row is None:
                raise ResourceDoesNotExist(f"Feature spec '{name}' does not exist.")
            session.delete(row)
