"""Each endpoint's history: config updates requested, served or failed; served models'
state changes; replica exits and restarts; scaling."""

from __future__ import annotations

from sqlalchemy import select

from servegate.store.database import Database, now_ms
from servegate.store.models import EndpointEventRow

SCALED_UP = "SCALED_UP"
SCALED_DOWN = "SCALED_DOWN"
SCALED_TO_ZERO = "SCALED_TO_ZERO"
WOKEN = "WOKEN_FROM_ZERO"
REPLICA_EXITED = "REPLICA_EXITED"
REPLICA_RESTARTED = "REPLICA_RESTARTED"
STATE_CHANGED = "STATE_CHANGED"
CONFIG_REQUESTED = "CONFIG_UPDATE_REQUESTED"
CONFIG_UPDATED = "CONFIG_UPDATED"
UPDATE_FAILED = "UPDATE_FAILED"


class EndpointEventStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def add(
        self, endpoint_id: str, event_type: str, message: str, served_name: str | None = None
    ) -> None:
        with self.database.session() as session:
            session.add(
                EndpointEventRow(
                    endpoint_id=endpoint_id,
                    timestamp=now_ms(),
                    event_type=event_type,
                    served_name=served_name,
                    message=message,
                )
            )

    def list(self, endpoint_id: str, limit: int = 1000) -> list[EndpointEventRow]:
        """The newest ``limit`` events, oldest first."""
        with self.database.session() as session:
            query = (
                select(EndpointEventRow)
                .where(EndpointEventRow.endpoint_id == endpoint_id)
                .order_by(EndpointEventRow.id.desc())
                .limit(limit)
            )
            return list(reversed(session.scalars(query).all()))
