"""The admin token: created on first start, printed once, kept in ``$SERVEGATE_HOME``."""

from __future__ import annotations

import os

from servegate.auth.tokens import TokenStore, new_token
from servegate.settings import Settings
from servegate.store.principals import ADMIN_ID


def ensure_admin_token(settings: Settings, tokens: TokenStore) -> tuple[str, bool]:
    """The admin token, and whether it was created just now (then the caller prints it)."""
    token = settings.stored_admin_token()
    created = token is None
    if token is None:
        token = new_token()
        fd = os.open(settings.admin_token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
    tokens.put(ADMIN_ID, token, ADMIN_ID, comment="admin token")
    return token, created
