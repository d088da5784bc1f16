"""Who a token belongs to, and what that principal may do — decided from memory.

Tokens, principals, group memberships and grants are loaded from the store into one
snapshot, swapped whole after every change made through this gateway (so a change takes
effect at once) and re-read every few seconds (for changes made elsewhere). A request is
authorised with dict lookups, never a store query.
"""

from __future__ import annotations

import hmac
import time
from collections import defaultdict
from dataclasses import dataclass, field

from servegate.auth.tokens import TokenStore, hash_token
from servegate.errors import PermissionDenied
from servegate.store.principals import ADMIN_ID, Kind, PrincipalStore

LEVELS = ("CAN_VIEW", "CAN_QUERY", "CAN_MANAGE")
_RANK = {level: rank for rank, level in enumerate(LEVELS, start=1)}
LEVEL_DESCRIPTIONS = {
    "CAN_VIEW": "Can view the endpoint, its config and state",
    "CAN_QUERY": "Can view and query the endpoint",
    "CAN_MANAGE": "Can view, query, change, delete and set permissions of the endpoint",
}


@dataclass(frozen=True)
class Caller:
    id: str
    name: str
    kind: str
    is_admin: bool = False
    entitlements: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()  # group ids
    group_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Token:
    id: str
    digest: str
    principal_id: str
    expires_at: int | None


@dataclass(frozen=True)
class AccessSnapshot:
    tokens: dict[str, _Token] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)
    grants: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)


def higher(level: str | None, other: str | None) -> str | None:
    if level is None:
        return other
    if other is None:
        return level
    return level if _RANK[level] >= _RANK[other] else other


def at_least(level: str | None, needed: str) -> bool:
    return level is not None and _RANK[level] >= _RANK[needed]


class AccessControl:
    def __init__(self, principals: PrincipalStore, tokens: TokenStore) -> None:
        self.principals = principals
        self.tokens = tokens
        self._snapshot = AccessSnapshot()
        self._process_tokens: dict[str, Caller] = {}
        self._last_used: dict[str, int] = {}

    def refresh(self) -> None:
        rows = self.principals.list()
        groups_of: dict[str, set[str]] = defaultdict(set)
        for membership in self.principals.memberships():
            groups_of[membership.member_id].add(membership.group_id)
        entitlements_of = {row.id: set(row.entitlements) for row in rows}
        names = {row.id: row.name for row in rows}
        callers = {}
        for row in rows:
            if not row.active or row.kind == Kind.GROUP.value:
                continue
            groups = frozenset(groups_of.get(row.id, ()))
            inherited = set(row.entitlements).union(
                *(entitlements_of.get(g, set()) for g in groups)
            )
            callers[row.id] = Caller(
                row.id,
                row.name,
                row.kind,
                row.is_admin,
                frozenset(inherited),
                groups,
                frozenset(names[group] for group in groups),
            )
        grants: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for grant in self.principals.grants():
            grants[(grant.object_type, grant.object_id)][grant.principal_id] = grant.level
        tokens = {
            row.token_hash: _Token(row.id, row.token_hash, row.principal, row.expires_at)
            for row in self.tokens.active()
        }
        self._snapshot = AccessSnapshot(tokens, callers, dict(grants))

    def add_process_token(self, token: str, caller: Caller) -> None:
        """A token that lives only as long as this process (replicas use it)."""
        self._process_tokens[hash_token(token)] = caller

    def authenticate(self, token: str) -> Caller | None:
        digest = hash_token(token)
        if digest in self._process_tokens:
            return self._process_tokens[digest]
        snapshot = self._snapshot
        found = snapshot.tokens.get(digest)
        if found is None or not hmac.compare_digest(found.digest, digest):
            return None
        now = int(time.time() * 1000)
        if found.expires_at is not None and found.expires_at <= now:
            return None
        caller = snapshot.callers.get(found.principal_id)
        if caller is not None:
            self._last_used[found.id] = now
        return caller

    def take_last_used(self) -> dict[str, int]:
        used, self._last_used = self._last_used, {}
        return used

    # -- decisions ----------------------------------------------------------------------------

    def level(self, caller: Caller, object_type: str, object_id: str) -> str | None:
        if caller.is_admin:
            return "CAN_MANAGE"
        grants = self._snapshot.grants.get((object_type, object_id), {})
        level = grants.get(caller.id)
        for group in caller.groups:
            level = higher(level, grants.get(group))
        return level

    def require(
        self, caller: Caller, object_type: str, object_id: str, needed: str, what: str
    ) -> str:
        level = self.level(caller, object_type, object_id)
        if not at_least(level, needed):
            raise PermissionDenied(f"'{caller.name}' needs {needed} on {what}.")
        assert level is not None
        return level

    @staticmethod
    def require_entitlement(caller: Caller, entitlement: str, action: str) -> None:
        if not (caller.is_admin or entitlement in caller.entitlements):
            raise PermissionDenied(
                f"'{caller.name}' may not {action}: it needs the '{entitlement}' entitlement."
            )

    @staticmethod
    def require_admin(caller: Caller, action: str) -> None:
        if not caller.is_admin:
            raise PermissionDenied(f"Only administrators may {action}.")


ADMIN_CALLER = Caller(ADMIN_ID, "admin", Kind.USER.value, is_admin=True)
