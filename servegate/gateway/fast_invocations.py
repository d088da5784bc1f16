"""The common case of a prediction, answered in one ASGI function ahead of the full way in.

Nearly every request to the invocation routes is alike: a known token, an endpoint whose
routes are published and that the caller may query, no rate limit, no inference table, no
access log, a replica ready. Those are answered here, from the ASGI scope to a replica and
back, without the middleware layers, ``Request`` and exception handling every other request
passes through: a few microseconds each, together nearly half of the gateway's own cost
per request.

Whatever is not that case (no token or an unknown one, an endpoint not ready, access denied,
limits, capture, a served model to wake, oversized headers) is decided before the body is
read, and left to the full way, which answers it as it answers any request. Errors after the
body was read are answered here in the API's error format, as the full way would.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from servegate.auth.access import at_least
from servegate.auth.middleware import presented_token
from servegate.body import receive_limited_body
from servegate.errors import ServegateError, error_response
from servegate.gateway import dataplane
from servegate.gateway.context import GatewayContext
from servegate.gateway.limits import header_bytes
from servegate.observability import request_ids
from servegate.store.models import SERVING_ENDPOINT

_REQUEST_ID = request_ids.HEADER.encode()


class FastInvocations:
    def __init__(self, context: GatewayContext) -> None:
        self.context = context
        self.max_header_bytes = context.settings.max_header_bytes
        self.max_request_bytes = context.settings.max_request_bytes

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, name: str, served: str | None
    ) -> bool:
        """Answer a POST to ``name``'s invocations (``served``'s, if given) if it is the
        common case; False, with nothing read or sent, if the full way must answer it."""
        context = self.context
        if context.settings.access_log:
            return False
        raw = scope["headers"]  # lower-case bytes, as the server parsed them
        authorization = given_id = declared = None
        for key, value in raw:
            if key == b"authorization":
                authorization = authorization or value
            elif key == _REQUEST_ID:
                given_id = given_id or value
            elif key == b"content-length":
                declared = declared or value
        if authorization is None or header_bytes(raw) > self.max_header_bytes:
            return False
        token = presented_token(authorization.decode("latin-1"))
        caller = context.access.authenticate(token) if token else None
        routes = context.routing.get(name)
        if (
            caller is None
            or routes is None
            or routes.config_version is None
            or routes.capture
            or routes.rate_limits
            or not at_least(context.access.level(caller, SERVING_ENDPOINT, routes.id), "CAN_QUERY")
        ):
            return False
        try:
            served = dataplane.pick_served(routes, served)
        except ServegateError:  # none to draw, or no such served model
            return False
        ready = routes.ready_replicas(served)
        if not ready:
            return False

        forwarded = dataplane.forwarded_headers(raw)
        forwarded[request_ids.HEADER] = request_ids.begin(
            given_id.decode("latin-1") if given_id is not None else None
        )
        with dataplane.Measured(None, context, routes.name, served) as measured:
            try:
                length = declared.decode("latin-1") if declared is not None else None
                body = await receive_limited_body(receive, length, self.max_request_bytes)
                answer = await dataplane.deliver(context, routes, served, ready, body, forwarded)
            except ServegateError as error:
                response = error_response(error)
            except ClientDisconnect:  # no one is left to answer, as the full way has it
                response = Response(status_code=400)
            else:
                measured.status = answer.status
                headers = [
                    (key.encode("latin-1"), value.encode("latin-1"))
                    for key, value in dataplane.answer_headers(answer, served).items()
                ]
                headers.append((b"content-length", b"%d" % len(answer.body)))
                await send(
                    {"type": "http.response.start", "status": answer.status, "headers": headers}
                )
                await send({"type": "http.response.body", "body": answer.body})
                return True
            measured.status = response.status_code
            await response(scope, receive, send)
        return True
