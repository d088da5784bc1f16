"""Every route but health checks needs ``Authorization: Bearer <token>``.

Basic auth with the token as password (``-u token:<PAT>``, as legacy clients do) is accepted
too. The principal is put in the ASGI scope for the routes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from servegate.auth.access import AccessControl
from servegate.errors import error_body

PUBLIC_PATHS = frozenset(
    {
        "/health",
        "/ping",
        "/.well-known/databricks-config",
        "/v2/health/live",  # Open Inference Protocol health, like /health
        "/v2/health/ready",
        "/openapi.json",
    }
)
# The web UI's pages authenticate by its session cookie, and reach data only by sending
# requests with its token through this middleware again (servegate.ui.api_client, .passthrough).
UI_PATHS = frozenset({"/", "/ui", "/mlflow"})
UI_PREFIXES = ("/ui/", "/mlflow/")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path in UI_PATHS or path.startswith(UI_PREFIXES)


def presented_token(authorization: str) -> str | None:
    scheme, _, credentials = authorization.partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer" and credentials:
        return credentials
    if scheme == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, access: AccessControl) -> None:
        self.app = app
        self.access = access
        self.catch_up = CatchUp(access)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        token = presented_token(authorization)
        caller = self.access.authenticate(token) if token else None
        if caller is None and token:  # perhaps made a moment ago, through another process
            await self.catch_up.run()
            caller = self.access.authenticate(token)
        if caller is None:
            await _reject(
                send,
                scope["path"],
                "Credential was not sent or was of an unsupported type."
                if token is None
                else "Invalid access token.",
            )
            return
        scope["servegate.caller"] = caller
        await self.app(scope, receive, send)


class CatchUp:
    """Re-reads the access snapshot for a token it does not know yet (created through
    another gateway process): callers arriving together share one read, and unknown tokens
    cause at most one read per ``MIN_INTERVAL_S``, however many arrive."""

    MIN_INTERVAL_S = 0.5

    def __init__(self, access: AccessControl) -> None:
        self.access = access
        self._lock = asyncio.Lock()
        self._read_at = float("-inf")

    async def run(self) -> None:
        arrived = time.monotonic()
        async with self._lock:
            if self._read_at >= arrived or time.monotonic() - self._read_at < self.MIN_INTERVAL_S:
                return  # a read began after this caller arrived, or one just happened
            self._read_at = time.monotonic()
            await asyncio.to_thread(self.access.refresh)


async def _reject(send: Send, path: str, message: str) -> None:
    body = error_body("UNAUTHENTICATED", message, path)
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="servegate"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
