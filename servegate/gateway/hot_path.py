"""The short way in for predictions: the two invocation routes every prediction takes skip
Starlette's router and its error and exception middleware, which wrap every message sent.

They pass the same header limit, audit and authentication middleware as every other route
(the same classes, composed here around them); their errors leave in the API's shape, as
Starlette's exception handlers would answer them. Everything else goes to the full app.
"""

from __future__ import annotations

import logging
import re

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from servegate.auth.access import AccessControl
from servegate.auth.middleware import AuthMiddleware
from servegate.errors import ServegateError, error_response
from servegate.gateway import dataplane
from servegate.gateway.limits import HeaderLimitMiddleware
from servegate.observability.audit import AuditLog, AuditMiddleware

logger = logging.getLogger(__name__)

# /serving-endpoints/{name}/invocations, and .../served-models/{served}/invocations
_INVOCATIONS = re.compile(r"/serving-endpoints/([^/]+)(?:/served-models/([^/]+))?/invocations")


class HotPath:
    def __init__(
        self, app: Starlette, max_header_bytes: int, access: AccessControl, audit: AuditLog
    ) -> None:
        self.app = app
        self.invocations: ASGIApp = HeaderLimitMiddleware(
            AuditMiddleware(AuthMiddleware(self._invoke, access=access), audit=audit),
            max_header_bytes=max_header_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _INVOCATIONS.fullmatch(scope["path"])
            if match is not None:
                scope["app"] = self.app  # where routes find the gateway's context
                scope["path_params"] = {"name": match[1], "served": match[2]}
                await self.invocations(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        params = scope["path_params"]
        try:
            response = await dataplane.invoke(request, params["name"], params["served"])
        except ServegateError as error:
            response = error_response(error)
        except ClientDisconnect:
            response = Response(status_code=400)  # nobody is left to read it
        except Exception as error:  # a bug: answered in the API's shape, logged in full
            logger.exception("%s %s failed", scope["method"], scope["path"])
            response = error_response(ServegateError(f"Internal error: {type(error).__name__}"))
        await response(scope, receive, send)
