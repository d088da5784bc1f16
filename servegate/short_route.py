"""Answering a hot route without Starlette's router and its error and exception middleware,
which wrap every message sent: the gateway's invocation routes and the replica's
``/invocations`` take this way in. Errors are answered by the app's own exception handlers,
as its router would have them answered; one no handler takes propagates, as it would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


async def answer(
    app: Starlette, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer the request in ``scope`` with ``endpoint``, as a route of ``app``."""
    scope["app"] = app  # where endpoints find the app's state
    request = Request(scope, receive)
    try:
        response = await endpoint(request)
    except Exception as error:
        handler = _handler_for(app, error)
        if handler is None:
            raise
        response = await handler(request, error)
    await response(scope, receive, send)


def _handler_for(app: Starlette, error: Exception) -> ErrorHandler | None:
    """The handler ``app`` has for the error's class or its nearest base."""
    for kind in type(error).__mro__:
        handler = app.exception_handlers.get(kind)
        if handler is not None:
            return handler  # type: ignore[no-any-return]
    return None
