"""Secret scopes and secrets, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key lives in ``$SERVEGATE_HOME/secrets.key`` (mode 0600), created on first use; the
store holds only ciphertext. Values are decrypted for one purpose: the environment of the
replica whose ``environment_vars`` reference them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from servegate.errors import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist
from servegate.store.database import Database, now_ms
from servegate.store.models import SecretRow, SecretScopeRow

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
REFERENCE = re.compile(r"^\{\{\s*secrets/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)\s*\}\}$")


def secret_reference(value: str) -> tuple[str, str] | None:
    """(scope, key) if ``value`` is a ``{{secrets/scope/key}}`` reference."""
    match = REFERENCE.match(value)
    return (match.group(1), match.group(2)) if match else None


def load_key(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another gateway made it first
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key


def _checked(what: str, name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidParameterValue(
            f"{what} {name!r} is invalid: use 1 to 128 letters, digits, '-', '_' or '.'."
        )
    return name


class SecretStore:
    def __init__(self, database: Database, key_path: Path) -> None:
        self.database = database
        self._fernet = Fernet(load_key(key_path))

    def create_scope(self, scope: str) -> None:
        _checked("Scope", scope)
        try:
            with self.database.session() as session:
                session.add(SecretScopeRow(name=scope, created_at=now_ms()))
        except IntegrityError as error:
            raise ResourceAlreadyExists(f"Secret scope '{scope}' already exists.") from error

    def delete_scope(self, scope: str) -> None:
        with self.database.session() as session:
            row = session.get(SecretScopeRow, scope)
            if row is None:
                raise ResourceDoesNotExist(f"Secret scope '{scope}' does not exist.")
            session.delete(row)

    def scopes(self) -> list[str]:
        with self.database.session() as session:
            return list(session.scalars(select(SecretScopeRow.name).order_by(SecretScopeRow.name)))

    def put(self, scope: str, key: str, value: str) -> None:
        _checked("Key", key)
        ciphertext = self._fernet.encrypt(value.encode())
        with self.database.session() as session:
            if session.get(SecretScopeRow, scope) is None:
                raise ResourceDoesNotExist(f"Secret scope '{scope}' does not exist.")
            session.merge(
                SecretRow(scope=scope, key=key, ciphertext=ciphertext, updated_at=now_ms())
            )

    def delete(self, scope: str, key: str) -> None:
        with self.database.session() as session:
            row = session.get(SecretRow, (scope, key))
            if row is None:
                raise ResourceDoesNotExist(f"Secret '{key}' does not exist in scope '{scope}'.")
            session.delete(row)

    def keys(self, scope: str) -> list[SecretRow]:
        with self.database.session() as session:
            if session.get(SecretScopeRow, scope) is None:
                raise ResourceDoesNotExist(f"Secret scope '{scope}' does not exist.")
            return list(
                session.scalars(
                    select(SecretRow).where(SecretRow.scope == scope).order_by(SecretRow.key)
                )
            )

    def exists(self, scope: str, key: str) -> bool:
        with self.database.session() as session:
            return session.get(SecretRow, (scope, key)) is not None

    def reveal(self, scope: str, key: str) -> str:
        with self.database.session() as session:
            row = session.get(SecretRow, (scope, key))
            if row is None:
                raise ResourceDoesNotExist(f"Secret '{key}' does not exist in scope '{scope}'.")
            return self._fernet.decrypt(row.ciphertext).decode()

    def resolve_environment(self, variables: dict[str, str]) -> dict[str, str]:
        """``variables`` with every ``{{secrets/scope/key}}`` replaced by the secret's value."""
        resolved = {}
        for name, value in variables.items():
            reference = secret_reference(value)
            resolved[name] = self.reveal(*reference) if reference else value
        return resolved

    def check_references(self, variables: dict[str, str], where: str) -> None:
        for name, value in variables.items():
            reference = secret_reference(value)
            if reference and not self.exists(*reference):
                raise InvalidParameterValue(
                    f"{where}: environment variable {name} references secret "
                    f"{reference[0]}/{reference[1]}, which does not exist."
                )
