"""Reading and changing endpoints in the store, each call one transaction.

Writers that must not interleave (starting an update, promoting a config) are single
conditional statements, so they hold on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from servegate.endpoint_config import EndpointConfig, Route, ServedEntitySpec
from servegate.errors import ResourceAlreadyExists, ResourceConflict, ResourceDoesNotExist
from servegate.inference_tables import InferenceTable
from servegate.states import ConfigStatus, ConfigUpdate, Deployment
from servegate.store.database import Database, now_ms
from servegate.store.endpoint_events import CONFIG_REQUESTED
from servegate.store.models import (
    CAN_MANAGE,
    SERVING_ENDPOINT,
    ConfigRow,
    EndpointEventRow,
    EndpointRow,
    PermissionRow,
    ServedEntityRow,
    TagRow,
)

_ENDPOINT_LOAD = (
    selectinload(EndpointRow.configs).selectinload(ConfigRow.entities),
    selectinload(EndpointRow.tags),
)


def entity_spec(row: ServedEntityRow) -> ServedEntitySpec:
    return ServedEntitySpec(
        name=row.name,
        entity_name=row.entity_name,
        entity_version=row.entity_version,
        legacy_form=row.legacy_form,
        **row.spec,
    )


def config_of(row: ConfigRow) -> EndpointConfig:
    return EndpointConfig(
        served_entities=tuple(entity_spec(entity) for entity in row.entities),
        routes=tuple(Route(**route) for route in row.routes),
        auto_capture=InferenceTable.from_stored(row.auto_capture),
    )


class EndpointStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # -- reads ---------------------------------------------------------------------------

    def get(self, name: str) -> EndpointRow:
        with self.database.session() as session:
            return self._get(session, name)

    def get_by_id(self, endpoint_id: str) -> EndpointRow:
        with self.database.session() as session:
            query = (
                select(EndpointRow).where(EndpointRow.id == endpoint_id).options(*_ENDPOINT_LOAD)
            )
            row = session.scalars(query).one_or_none()
            if row is None:
                raise ResourceDoesNotExist(
                    f"Serving endpoint with id '{endpoint_id}' does not exist."
                )
            return row

    def list(self) -> list[EndpointRow]:
        with self.database.session() as session:
            query = select(EndpointRow).options(*_ENDPOINT_LOAD).order_by(EndpointRow.name)
            return list(session.scalars(query))

    @staticmethod
    def _get(session: Session, name: str, *, lock: bool = False) -> EndpointRow:
        """The endpoint; ``lock``: held until the transaction ends, so writers of one endpoint
        take turns (on PostgreSQL; SQLite has one writer at a time anyway) and a writer that
        waited on a delete finds the endpoint gone instead of writing to it."""
        query = select(EndpointRow).where(EndpointRow.name == name).options(*_ENDPOINT_LOAD)
        if lock:
            query = query.with_for_update(of=EndpointRow)
        row = session.scalars(query).one_or_none()
        if row is None:
            raise ResourceDoesNotExist(f"Endpoint with name '{name}' does not exist.")
        return row

    # -- control plane writes ------------------------------------------------------------

    def create(
        self,
        name: str,
        creator: str,
        creator_id: str,
        config: EndpointConfig,
        description: str | None = None,
        tags: dict[str, str | None] | None = None,
        ai_gateway: dict[str, Any] | None = None,
    ) -> EndpointRow:
        stamp = now_ms()
        try:
            with self.database.session() as session:
                if session.scalar(select(EndpointRow.id).where(EndpointRow.name == name)):
                    raise ResourceAlreadyExists(f"Endpoint with name '{name}' already exists.")
                endpoint = EndpointRow(
                    id=uuid.uuid4().hex,
                    name=name,
                    creator=creator,
                    description=description,
                    created_at=stamp,
                    updated_at=stamp,
                    config_update=ConfigUpdate.IN_PROGRESS.value,
                    active_version=None,
                    pending_version=1,
                    last_version=1,
                    ai_gateway=ai_gateway,
                )
                session.add(endpoint)
                session.flush()
                session.add(_config_row(endpoint.id, 1, config, creator, stamp))
                session.add(
                    PermissionRow(
                        object_type=SERVING_ENDPOINT,
                        object_id=endpoint.id,
                        principal_id=creator_id,
                        level=CAN_MANAGE,
                    )
                )
                for key, value in (tags or {}).items():
                    session.add(TagRow(endpoint_id=endpoint.id, key=key, value=value))
                session.add(_requested(endpoint.id, stamp, f"Created by {creator}", 1, config))
        except IntegrityError as error:
            raise ResourceAlreadyExists(f"Endpoint with name '{name}' already exists.") from error
        return self.get(name)

    def update_config(self, name: str, creator: str, config: EndpointConfig) -> EndpointRow:
        """Store ``config`` as the pending config; 409 while another update is in progress."""
        stamp = now_ms()
        with self.database.session() as session:
            endpoint = self._get(session, name, lock=True)
            version = endpoint.last_version + 1
            claimed = session.execute(
                update(EndpointRow)
                .where(
                    EndpointRow.id == endpoint.id,
                    EndpointRow.config_update != ConfigUpdate.IN_PROGRESS.value,
                    EndpointRow.last_version == endpoint.last_version,
                )
                .values(
                    config_update=ConfigUpdate.IN_PROGRESS.value,
                    pending_version=version,
                    last_version=version,
                    updated_at=stamp,
                )
            )
            if claimed.rowcount != 1:
                raise ResourceConflict(
                    f"Endpoint '{name}' is already being updated; wait until its config update "
                    "finishes (state.config_update is not IN_PROGRESS) and try again."
                )
            session.execute(
                update(ConfigRow)
                .where(
                    ConfigRow.endpoint_id == endpoint.id,
                    ConfigRow.status == ConfigStatus.PENDING.value,
                )
                .values(status=ConfigStatus.FAILED.value)
            )
            session.add(_config_row(endpoint.id, version, config, creator, stamp))
            session.add(_requested(endpoint.id, stamp, f"Update by {creator}", version, config))
        return self.get(name)

    def delete(self, name: str) -> EndpointRow:
        with self.database.session() as session:
            endpoint = self._get(session, name, lock=True)
            session.delete(endpoint)
            session.execute(
                delete(PermissionRow).where(
                    PermissionRow.object_type == SERVING_ENDPOINT,
                    PermissionRow.object_id == endpoint.id,
                )
            )
            return endpoint

    def patch_tags(self, name: str, add: dict[str, str | None], remove: list[str]) -> list[TagRow]:
        with self.database.session() as session:
            endpoint = self._get(session, name, lock=True)
            session.execute(
                delete(TagRow).where(
                    TagRow.endpoint_id == endpoint.id, TagRow.key.in_(list(remove) + list(add))
                )
            )
            for key, value in add.items():
                session.add(TagRow(endpoint_id=endpoint.id, key=key, value=value))
            session.execute(
                update(EndpointRow).where(EndpointRow.id == endpoint.id).values(updated_at=now_ms())
            )
        return self.get(name).tags

    def set_ai_gateway(self, name: str, ai_gateway: dict[str, Any] | None) -> EndpointRow:
        with self.database.session() as session:
            endpoint = self._get(session, name, lock=True)
            session.execute(
                update(EndpointRow)
                .where(EndpointRow.id == endpoint.id)
                .values(ai_gateway=ai_gateway, updated_at=now_ms())
            )
        return self.get(name)

    # -- reconciler writes ---------------------------------------------------------------

    def set_entity_state(
        self,
        entity_id: int,
        state: Deployment,
        message: str,
        resolved_version: str | None,
        scaling: dict[str, Any] | None = None,
    ) -> None:
        with self.database.session() as session:
            session.execute(
                update(ServedEntityRow)
                .where(ServedEntityRow.id == entity_id)
                .values(
                    deployment_state=state.value,
                    state_message=message,
                    resolved_version=resolved_version,
                    scaling=scaling,
                )
            )

    def mark_restarting(self) -> None:
        """A process begins to lead: the replicas of whoever led before are gone, so no
        served entity is READY until this one's replicas are (GET must not say READY
        while the data plane has nothing to send to)."""
        with self.database.session() as session:
            session.execute(
                update(ServedEntityRow)
                .where(
                    ServedEntityRow.deployment_state.in_(
                        [Deployment.READY.value, Deployment.RECOVERING.value]
                    )
                )
                .values(
                    deployment_state=Deployment.CREATING.value,
                    state_message="Starting its replica: the gateway started.",
                )
            )

    def promote(self, endpoint_id: str, version: int) -> bool:
        """Make pending config ``version`` the active one, atomically. False if superseded."""
        with self.database.session() as session:
            promoted = session.execute(
                update(EndpointRow)
                .where(EndpointRow.id == endpoint_id, EndpointRow.pending_version == version)
                .values(
                    active_version=version,
                    pending_version=None,
                    config_update=ConfigUpdate.NOT_UPDATING.value,
                    updated_at=now_ms(),
                )
            )
            if promoted.rowcount != 1:
                return False
            session.execute(
                update(ConfigRow)
                .where(
                    ConfigRow.endpoint_id == endpoint_id,
                    ConfigRow.version != version,
                    ConfigRow.status == ConfigStatus.ACTIVE.value,
                )
                .values(status=ConfigStatus.RETIRED.value)
            )
            session.execute(
                update(ConfigRow)
                .where(ConfigRow.endpoint_id == endpoint_id, ConfigRow.version == version)
                .values(status=ConfigStatus.ACTIVE.value)
            )
            return True

    def fail_pending(self, endpoint_id: str, version: int) -> bool:
        """Mark pending config ``version`` failed; the active config keeps serving."""
        with self.database.session() as session:
            failed = session.execute(
                update(EndpointRow)
                .where(
                    EndpointRow.id == endpoint_id,
                    EndpointRow.pending_version == version,
                    EndpointRow.config_update == ConfigUpdate.IN_PROGRESS.value,
                )
                .values(config_update=ConfigUpdate.UPDATE_FAILED.value, updated_at=now_ms())
            )
            if failed.rowcount != 1:
                return False
            session.execute(
                update(ConfigRow)
                .where(ConfigRow.endpoint_id == endpoint_id, ConfigRow.version == version)
                .values(status=ConfigStatus.FAILED.value)
            )
            return True


def _config_row(
    endpoint_id: str, version: int, config: EndpointConfig, creator: str, stamp: int
) -> ConfigRow:
    row = ConfigRow(
        endpoint_id=endpoint_id,
        version=version,
        status=ConfigStatus.PENDING.value,
        routes=[asdict(route) for route in config.routes],
        auto_capture=config.auto_capture.to_dict() if config.auto_capture else None,
        start_time=stamp,
    )
    for position, entity in enumerate(config.served_entities):
        spec = entity.runtime_fields()
        spec.pop("entity_name")
        spec.pop("entity_version")
        row.entities.append(
            ServedEntityRow(
                position=position,
                name=entity.name,
                entity_name=entity.entity_name,
                entity_version=entity.entity_version,
                spec=spec,
                legacy_form=entity.legacy_form,
                creator=creator,
                created_at=stamp,
                deployment_state=Deployment.CREATING.value,
                state_message="Waiting for the replica to start.",
            )
        )
    return row


def _requested(
    endpoint_id: str, stamp: int, who: str, version: int, config: EndpointConfig
) -> EndpointEventRow:
    """The event that records a requested config, in the transaction that stores it."""
    served = ", ".join(
        f"{entity.name} ({entity.entity_name} {entity.entity_version})"
        for entity in config.served_entities
    )
    return EndpointEventRow(
        endpoint_id=endpoint_id,
        timestamp=stamp,
        event_type=CONFIG_REQUESTED,
        message=f"{who}: config version {version} with {served}.",
    )
