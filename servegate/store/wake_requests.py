"""Requests to wake served entities scaled to zero, from gateways that do not lead.

The leading gateway wakes an entity directly when a request for it arrives there; any other
process leaves a row here, which the leader's reconciler takes on its next pass.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import delete, select, tuple_
from sqlalchemy.exc import IntegrityError

from servegate.store.database import Database, now_ms
from servegate.store.models import WakeRequestRow


class WakeRequestStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def request(self, endpoint_id: str, served_name: str) -> None:
        # IntegrityError: another process asked at the same moment, to the same effect
        with contextlib.suppress(IntegrityError), self.database.session() as session:
            session.merge(
                WakeRequestRow(
                    endpoint_id=endpoint_id, served_name=served_name, requested_at=now_ms()
                )
            )

    def take(self) -> list[tuple[str, str]]:
        """Every pending request (endpoint id, served name), removed from the store."""
        with self.database.session() as session:
            keys = [
                tuple(row)
                for row in session.execute(
                    select(WakeRequestRow.endpoint_id, WakeRequestRow.served_name)
                )
            ]
            if keys:
                session.execute(
                    delete(WakeRequestRow).where(
                        tuple_(WakeRequestRow.endpoint_id, WakeRequestRow.served_name).in_(keys)
                    )
                )
            return keys  # type: ignore[return-value]
