"""The UI reads and changes everything through servegate's own REST API, in-process.

Each call goes through the whole gateway application (auth, audit, permissions) with the
signed-in user's token, so a page shows exactly what that token may see: the UI has no
back door into the stores.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp

from servegate.errors import PermissionDenied
from servegate.ui.session import cross_origin, session_token

# httpx logs every request at INFO: one line per page the UI renders, which says nothing.
logging.getLogger("httpx").setLevel(logging.WARNING)


class SignInRequired(Exception):
    """No session, or its token is no longer valid."""


class ApiError(Exception):
    """The API refused a call: its status, ``error_code`` and message."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


class ApiClient:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self._headers = {"Authorization": f"Bearer {token}"}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The API's answer; raises ``ApiError`` (or ``SignInRequired`` on 401) otherwise."""
        async with httpx.AsyncClient(
            transport=self._transport, base_url="http://servegate-ui", headers=self._headers
        ) as client:
            response = await client.request(method, path, timeout=60, **kwargs)
        if response.status_code == 401:
            raise SignInRequired()
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(
                response.status_code,
                body.get("error_code", "BAD_REQUEST"),
                body.get("message", response.text.strip() or response.reason_phrase),
            )
        return response

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.request("GET", path, params=params or None)).json()

    async def send(self, method: str, path: str, body: Any) -> Any:
        return (await self.request(method, path, json=body)).json()

    async def text(self, path: str) -> str:
        return (await self.request("GET", path)).text

    async def me(self) -> dict[str, Any]:
        """The signed-in principal (SCIM ``Me``)."""
        me: dict[str, Any] = await self.get("/api/2.0/preview/scim/v2/Me")
        return me


def api_for(connection: HTTPConnection) -> ApiClient:
    """A client acting as the signed-in user; ``SignInRequired`` if nobody is."""
    token = session_token(connection)
    if token is None:
        raise SignInRequired()
    if cross_origin(connection.scope):
        raise PermissionDenied("A page of another origin may not act for you.")
    return ApiClient(connection.scope["app"], token)
