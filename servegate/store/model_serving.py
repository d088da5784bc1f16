"""Per-model serving in the store: which registered models are enabled, and their history."""

from __future__ import annotations

from sqlalchemy import delete, select

from servegate.store.database import Database, now_ms
from servegate.store.models import (
    CAN_MANAGE,
    SERVED_MODEL,
    ModelServingEventRow,
    ModelServingRow,
    PermissionRow,
)

MODEL_UPDATE = "MODEL_UPDATE"
VERSION_UPDATE = "VERSION_UPDATE"


class ModelServingStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def enable(self, model_name: str, creator: str, creator_id: str) -> bool:
        """Enable serving (the enabler may manage it); False, and no change, if it already was."""
        with self.database.session() as session:
            if session.get(ModelServingRow, model_name) is not None:
                return False
            session.add(
                ModelServingRow(model_name=model_name, creator=creator, enabled_at=now_ms())
            )
            session.merge(
                PermissionRow(
                    object_type=SERVED_MODEL,
                    object_id=model_name,
                    principal_id=creator_id,
                    level=CAN_MANAGE,
                )
            )
            session.add(_event(model_name, MODEL_UPDATE, None, f"Serving enabled by {creator}."))
            return True

    def disable(self, model_name: str, by: str) -> bool:
        with self.database.session() as session:
            gone = session.execute(
                delete(ModelServingRow).where(ModelServingRow.model_name == model_name)
            ).rowcount
            if gone:
                session.add(_event(model_name, MODEL_UPDATE, None, f"Serving disabled by {by}."))
                session.execute(
                    delete(PermissionRow).where(
                        PermissionRow.object_type == SERVED_MODEL,
                        PermissionRow.object_id == model_name,
                    )
                )
            return bool(gone)

    def get(self, model_name: str) -> ModelServingRow | None:
        with self.database.session() as session:
            return session.get(ModelServingRow, model_name)

    def list(self) -> list[ModelServingRow]:
        with self.database.session() as session:
            return list(
                session.scalars(select(ModelServingRow).order_by(ModelServingRow.model_name))
            )

    def add_event(
        self, model_name: str, event_type: str, version: str | None, message: str
    ) -> None:
        with self.database.session() as session:
            session.add(_event(model_name, event_type, version, message))

    def events(self, model_name: str) -> list[ModelServingEventRow]:
        with self.database.session() as session:
            query = (
                select(ModelServingEventRow)
                .where(ModelServingEventRow.model_name == model_name)
                .order_by(ModelServingEventRow.id)
            )
            return list(session.scalars(query))


def _event(
    model_name: str, event_type: str, version: str | None, message: str
) -> ModelServingEventRow:
    return ModelServingEventRow(
        model_name=model_name,
        timestamp=now_ms(),
        event_type=event_type,
        version=version,
        message=message,
    )
