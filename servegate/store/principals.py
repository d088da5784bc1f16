"""Users, groups (with members) and service principals, and the grants made to them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from enum import Enum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from servegate.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from servegate.store.database import Database, now_ms
from servegate.store.models import GroupMemberRow, PermissionRow, PrincipalRow

ADMIN_ID = "admin"

CREATE_ENDPOINTS = "allow-cluster-create"  # the entitlement to create serving endpoints
ENTITLEMENTS = (CREATE_ENDPOINTS, "workspace-access")


class Kind(str, Enum):
    USER = "user"
    GROUP = "group"
    SERVICE_PRINCIPAL = "service_principal"


class PrincipalStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create(
        self,
        kind: Kind,
        name: str,
        display_name: str | None = None,
        entitlements: Iterable[str] = (),
        members: Iterable[str] = (),
    ) -> PrincipalRow:
        entitlements = _checked_entitlements(entitlements)
        row = PrincipalRow(
            id=uuid.uuid4().hex,
            kind=kind.value,
            name=name,
            display_name=display_name or name,
            active=True,
            is_admin=False,
            entitlements=entitlements,
            created_at=now_ms(),
        )
        try:
            with self.database.session() as session:
                session.add(row)
                session.flush()
                for member in members:
                    self._check_member(session, member)
                    session.add(GroupMemberRow(group_id=row.id, member_id=member))
        except IntegrityError as error:
            raise ResourceAlreadyExists(f"A {kind.value} named '{name}' already exists.") from error
        return row

    def get(self, principal_id: str, kind: Kind | None = None) -> PrincipalRow:
        with self.database.session() as session:
            row = session.get(PrincipalRow, principal_id)
            if row is None or (kind is not None and row.kind != kind.value):
                what = kind.value if kind else "principal"
                raise ResourceDoesNotExist(f"No {what} with id '{principal_id}'.")
            return row

    def find(self, kind: Kind, name: str) -> PrincipalRow | None:
        with self.database.session() as session:
            return session.scalars(
                select(PrincipalRow).where(
                    PrincipalRow.kind == kind.value, PrincipalRow.name == name
                )
            ).one_or_none()

    def list(self, kind: Kind | None = None) -> list[PrincipalRow]:
        with self.database.session() as session:
            query = select(PrincipalRow).order_by(PrincipalRow.name)
            if kind is not None:
                query = query.where(PrincipalRow.kind == kind.value)
            return list(session.scalars(query))

    def delete(self, principal_id: str, kind: Kind) -> None:
        if principal_id == ADMIN_ID:
            raise InvalidParameterValue("The built-in administrator cannot be deleted.")
        with self.database.session() as session:
            row = session.get(PrincipalRow, principal_id)
            if row is None or row.kind != kind.value:
                raise ResourceDoesNotExist(f"No {kind.value} with id '{principal_id}'.")
            session.delete(row)

    def update(
        self,
        principal_id: str,
        *,
        active: bool | None = None,
        entitlements: Iterable[str] | None = None,
        display_name: str | None = None,
    ) -> PrincipalRow:
        with self.database.session() as session:
            row = session.get(PrincipalRow, principal_id)
            if row is None:
                raise ResourceDoesNotExist(f"No principal with id '{principal_id}'.")
            if active is not None:
                if principal_id == ADMIN_ID and not active:
                    raise InvalidParameterValue("The built-in administrator cannot be deactivated.")
                row.active = active
            if entitlements is not None:
                row.entitlements = _checked_entitlements(entitlements)
            if display_name is not None:
                row.display_name = display_name
            return row

    def members(self, group_id: str) -> list[PrincipalRow]:
        with self.database.session() as session:
            query = (
                select(PrincipalRow)
                .join(GroupMemberRow, GroupMemberRow.member_id == PrincipalRow.id)
                .where(GroupMemberRow.group_id == group_id)
                .order_by(PrincipalRow.name)
            )
            return list(session.scalars(query))

    def change_members(self, group_id: str, add: Iterable[str], remove: Iterable[str]) -> None:
        with self.database.session() as session:
            group = session.get(PrincipalRow, group_id)
            if group is None or group.kind != Kind.GROUP.value:
                raise ResourceDoesNotExist(f"No group with id '{group_id}'.")
            session.execute(
                delete(GroupMemberRow).where(
                    GroupMemberRow.group_id == group_id,
                    GroupMemberRow.member_id.in_(list(remove) + list(add)),
                )
            )
            for member in add:
                self._check_member(session, member)
                session.add(GroupMemberRow(group_id=group_id, member_id=member))

    @staticmethod
    def _check_member(session, member_id: str) -> None:  # type: ignore[no-untyped-def]
        member = session.get(PrincipalRow, member_id)
        if member is None or member.kind == Kind.GROUP.value:
            raise InvalidParameterValue(
                f"Group members must be existing users or service principals; '{member_id}' is not."
            )

    def memberships(self) -> list[GroupMemberRow]:
        with self.database.session() as session:
            return list(session.scalars(select(GroupMemberRow)))

    # -- grants -----------------------------------------------------------------------------

    def grants(
        self, object_type: str | None = None, object_id: str | None = None
    ) -> list[PermissionRow]:
        with self.database.session() as session:
            query = select(PermissionRow)
            if object_type is not None:
                query = query.where(
                    PermissionRow.object_type == object_type, PermissionRow.object_id == object_id
                )
            return list(session.scalars(query))

    def set_grants(
        self, object_type: str, object_id: str, grants: dict[str, str], *, replace: bool
    ) -> None:
        """Grant levels (principal id → level); ``replace`` drops every other direct grant."""
        with self.database.session() as session:
            scope = (PermissionRow.object_type == object_type, PermissionRow.object_id == object_id)
            if replace:
                session.execute(delete(PermissionRow).where(*scope))
            else:
                session.execute(
                    delete(PermissionRow).where(
                        *scope, PermissionRow.principal_id.in_(list(grants))
                    )
                )
            for principal_id, level in grants.items():
                session.add(
                    PermissionRow(
                        object_type=object_type,
                        object_id=object_id,
                        principal_id=principal_id,
                        level=level,
                    )
                )

    def drop_grants(self, object_type: str, object_id: str) -> None:
        with self.database.session() as session:
            session.execute(
                delete(PermissionRow).where(
                    PermissionRow.object_type == object_type, PermissionRow.object_id == object_id
                )
            )


def _checked_entitlements(entitlements: Iterable[str]) -> list[str]:
    values = sorted(set(entitlements))
    unknown = [value for value in values if value not in ENTITLEMENTS]
    if unknown:
        raise InvalidParameterValue(
            f"Unknown entitlement(s) {', '.join(unknown)}; known: {', '.join(ENTITLEMENTS)}."
        )
    return values
