"""The short way in for predictions: the two invocation routes every prediction takes skip
Starlette's router and its error and exception middleware (``servegate.short_route``).

Their common case is answered in one function (``servegate.gateway.fast_invocations``); the
rest pass the same header limit, audit and authentication middleware as every other route
(the same classes, composed here around them). Everything else goes to the full app.
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from servegate import short_route
from servegate.auth.access import AccessControl
from servegate.auth.middleware import AuthMiddleware
from servegate.gateway import dataplane
from servegate.gateway.fast_invocations import FastInvocations
from servegate.gateway.limits import HeaderLimitMiddleware
from servegate.observability.audit import AuditLog, AuditMiddleware

# /serving-endpoints/{name}/invocations, and .../served-models/{served}/invocations
_INVOCATIONS = re.compile(r"/serving-endpoints/([^/]+)(?:/served-models/([^/]+))?/invocations")


class HotPath:
    def __init__(
        self, app: Starlette, max_header_bytes: int, access: AccessControl, audit: AuditLog
    ) -> None:
        self.app = app
        self.fast = FastInvocations(app.state.context)
        self.invocations = HeaderLimitMiddleware(
            AuditMiddleware(AuthMiddleware(self._invoke, access=access), audit=audit),
            max_header_bytes=max_header_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _INVOCATIONS.fullmatch(scope["path"])
            if match is not None:
                name, served = match.groups()
                scope["path_params"] = {"name": name}
                if served is not None:
                    scope["path_params"]["served"] = served
                if not await self.fast(scope, receive, send, name, served):
                    await self.invocations(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = "served" in scope["path_params"]
        endpoint = dataplane.invoke_served_model if served else dataplane.invoke_endpoint
        await short_route.answer(self.app, endpoint, scope, receive, send)
