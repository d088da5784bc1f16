"""Who is signed in to the web UI: their token, kept in an HttpOnly, SameSite=Strict cookie.

The cookie holds the same bearer token the REST API takes, so the UI can do exactly what
that token may do and nothing more. Scripts in the page cannot read it (HttpOnly); other
sites cannot make the browser send it (SameSite=Strict); and a page on another port of the
same host, which SameSite does not stop, is refused by ``cross_origin`` on every change.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Scope

COOKIE = "servegate_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LIFETIME_S = 7 * 24 * 3600


def session_token(connection: HTTPConnection) -> str | None:
    return connection.cookies.get(COOKIE) or None


def start_session(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=_LIFETIME_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def cross_origin(scope: Scope) -> bool:
    """A change another origin's page made the browser send (a forged request).

    Browsers say where a request comes from in ``Sec-Fetch-Site``; older ones only in
    ``Origin``, which must then name this very host.
    """
    if scope["method"] in SAFE_METHODS:
        return False
    headers = Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return False
    return origin != f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
