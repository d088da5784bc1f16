"""API tokens: generated, stored as SHA-256 digests, and checked without a store query.

Tokens are 256-bit random secrets, so a digest lookup is as safe as a constant-time
comparison of the secret itself: a caller cannot steer the digest of a guess.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import select

from servegate.store.database import Database
from servegate.store.models import TokenRow

TOKEN_PREFIX = "sgt_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def put(self, token_id: str, token: str, principal: str, comment: str | None = None) -> None:
        """Create or replace the token with id ``token_id``."""
        with self.database.session() as session:
            row = session.get(TokenRow, token_id)
            if row is None:
                row = TokenRow(id=token_id, created_at=int(time.time() * 1000))
                session.add(row)
            row.token_hash = hash_token(token)
            row.principal = principal
            row.comment = comment

    def active_digests(self) -> dict[str, str]:
        now = int(time.time() * 1000)
        with self.database.session() as session:
            rows = session.scalars(select(TokenRow))
            return {
                row.token_hash: row.principal
                for row in rows
                if row.expires_at is None or row.expires_at > now
            }


class Authenticator:
    """Maps a presented token to its principal from an in-memory copy of the digests."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens
        self._digests: dict[str, str] = {}
        self._process_tokens: dict[str, str] = {}

    def refresh(self) -> None:
        self._digests = {**self.tokens.active_digests(), **self._process_tokens}

    def add_process_token(self, token: str, principal: str) -> None:
        """A token that lives only as long as this process (replicas use it)."""
        self._process_tokens[hash_token(token)] = principal
        self._digests[hash_token(token)] = principal

    def principal_for(self, token: str) -> str | None:
        return self._digests.get(hash_token(token))
