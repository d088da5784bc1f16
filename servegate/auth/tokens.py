"""API tokens: generated, shown once, stored only as SHA-256 digests, revocable, expiring.

Tokens are 256-bit random secrets, so looking a presented token up by its digest is as safe
as a constant-time comparison of the secret itself: a caller cannot steer the digest of a
guess, and the final comparison is ``hmac.compare_digest`` all the same.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Mapping

from sqlalchemy import select, update

from servegate.errors import InvalidParameterValue, ResourceDoesNotExist
from servegate.store.database import Database
from servegate.store.models import TokenRow

TOKEN_PREFIX = "sgt_"

MAX_LIFETIME_S = 100 * 365 * 24 * 3600  # a token that outlives this never expires: omit it


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def now_ms() -> int:
    return int(time.time() * 1000)


class TokenStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def put(self, token_id: str, token: str, principal_id: str, comment: str | None = None) -> None:
        """Create or replace the token with id ``token_id`` (the admin token)."""
        with self.database.session() as session:
            row = session.get(TokenRow, token_id)
            if row is None:
                row = TokenRow(id=token_id, created_at=now_ms())
                session.add(row)
            row.token_hash = hash_token(token)
            row.principal = principal_id
            row.comment = comment
            row.revoked_at = None

    def create(
        self, principal_id: str, lifetime_seconds: int | None, comment: str | None
    ) -> tuple[str, TokenRow]:
        """A new token for ``principal_id``: the secret (shown once) and its stored record."""
        if lifetime_seconds is not None and not 0 < lifetime_seconds <= MAX_LIFETIME_S:
            raise InvalidParameterValue(
                f"lifetime_seconds must be from 1 to {MAX_LIFETIME_S} (100 years), or omitted."
            )
        token = new_token()
        created = now_ms()
        row = TokenRow(
            id=uuid.uuid4().hex,
            token_hash=hash_token(token),
            principal=principal_id,
            comment=comment,
            created_at=created,
            expires_at=created + lifetime_seconds * 1000 if lifetime_seconds else None,
        )
        with self.database.session() as session:
            session.add(row)
        return token, row

    def list(self, principal_id: str | None = None) -> list[TokenRow]:
        with self.database.session() as session:
            query = (
                select(TokenRow).where(TokenRow.revoked_at.is_(None)).order_by(TokenRow.created_at)
            )
            if principal_id is not None:
                query = query.where(TokenRow.principal == principal_id)
            return list(session.scalars(query))

    def revoke(self, token_id: str, principal_id: str | None = None) -> None:
        """Revoke a token (only the owner's, when ``principal_id`` is given)."""
        with self.database.session() as session:
            query = update(TokenRow).where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None))
            if principal_id is not None:
                query = query.where(TokenRow.principal == principal_id)
            if session.execute(query.values(revoked_at=now_ms())).rowcount != 1:
                raise ResourceDoesNotExist(f"No token with id '{token_id}'.")

    def active(self) -> list[TokenRow]:
        with self.database.session() as session:
            return list(session.scalars(select(TokenRow).where(TokenRow.revoked_at.is_(None))))

    def record_use(self, last_used: Mapping[str, int]) -> None:
        with self.database.session() as session:
            for token_id, stamp in last_used.items():
                session.execute(
                    update(TokenRow).where(TokenRow.id == token_id).values(last_used_at=stamp)
                )
