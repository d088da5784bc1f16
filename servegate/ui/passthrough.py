"""Browser requests to the REST API (and to MLflow's own UI) made with the session cookie.

``/ui/rest/<path>`` is ``/<path>`` sent through the whole gateway again as if the caller had
sent ``Authorization: Bearer <their token>``: the same routes, permissions, audit and limits
as any API client. ``/mlflow/<path>`` is the embedded MLflow server's ``/<path>`` (its UI
included, whose ``/`` is servegate's now), behind the same auth and audit. Nothing is
answered here but refusals.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from servegate.errors import BadRequest, PermissionDenied, Unauthenticated, error_response
from servegate.ui.session import cross_origin, session_token

_SELF_PREFIXES = ("/ui", "/mlflow")


class SessionPassthrough:
    def __init__(self, prefix: str, target: ASGIApp | None = None) -> None:
        """``target``: where requests go; the gateway application itself if not given."""
        self.prefix = prefix
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].removeprefix(self.prefix) or "/"
        if any(path == p or path.startswith(p + "/") for p in _SELF_PREFIXES):
            failure = BadRequest(f"{self.prefix} cannot pass a request to {path}.")
            await error_response(failure)(scope, receive, send)
            return
        headers = Headers(scope=scope)
        forwarded = [(k, v) for k, v in scope["headers"] if k != b"cookie"]
        if "authorization" not in headers:
            token = session_token(HTTPConnection(scope))
            if token is None:
                await self._sign_in(scope, receive, send)
                return
            if cross_origin(scope):
                refused = PermissionDenied("A page of another origin may not act for you.")
                await error_response(refused)(scope, receive, send)
                return
            forwarded.append((b"authorization", f"Bearer {token}".encode("latin-1")))
        inner = {
            key: scope[key]
            for key in (
                "type",
                "asgi",
                "http_version",
                "method",
                "scheme",
                "server",
                "client",
                "query_string",
                "extensions",
                "state",
            )
            if key in scope
        }
        inner.update(path=path, raw_path=quote(path).encode(), root_path="", headers=forwarded)
        await (self.target or scope["app"])(inner, receive, send)

    async def _sign_in(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A page (MLflow's UI) goes to the sign-in form; an API call gets a 401."""
        if scope["method"] == "GET" and self.prefix == "/mlflow":
            target = f"/ui/sign-in?next={quote(scope['path'])}"
            await RedirectResponse(target, 303)(scope, receive, send)
            return
        failure = Unauthenticated("Sign in first: no session cookie and no bearer token.")
        await error_response(failure)(scope, receive, send)
