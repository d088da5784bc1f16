"""Registry changes that move what a served model serves need the right to manage it.

With per-model serving enabled for a registered model, moving a stage or an alias, deleting
or renaming a version or the model changes what its ``/model/...`` URLs answer; those
MLflow REST calls then need CAN_MANAGE on the served model, like any other change to it.
Everything else in the MLflow API needs only a valid token, as in a workspace.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servegate.auth.access import AccessControl
from servegate.errors import PayloadTooLarge, ServegateError, error_response
from servegate.gateway.routing import RoutingTable
from servegate.store.models import SERVED_MODEL

_GUARDED = frozenset(
    f"{prefix}/2.0/mlflow/{route}"
    for prefix in ("/api", "/ajax-api")
    for route in (
        "model-versions/transition-stage",
        "registered-models/alias",
        "model-versions/delete",
        "registered-models/delete",
        "registered-models/rename",
    )
)
_MAX_BODY = 1024 * 1024


class RegistryGuard:
    def __init__(self, app: ASGIApp, access: AccessControl, routing: RoutingTable) -> None:
        self.app = app
        self.access = access
        self.routing = routing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in _GUARDED or scope["method"] == "GET":
            await self.app(scope, receive, send)
            return
        try:
            body = await _read(receive)
            name = _model_name(body, scope.get("query_string", b""))
            if name is not None and self.routing.model(name) is not None:
                self.access.require(
                    scope["servegate.caller"],
                    SERVED_MODEL,
                    name,
                    "CAN_MANAGE",
                    f"model '{name}', which is being served",
                )
        except ServegateError as error:
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, _replay(body), send)


async def _read(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise PayloadTooLarge(f"Registry request bodies are limited to {_MAX_BODY} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _model_name(body: bytes, query: bytes) -> str | None:
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        payload = {}
    name = payload.get("name") if isinstance(payload, dict) else None
    if name is None:
        name = (parse_qs(query.decode("latin-1")).get("name") or [None])[0]
    return name if isinstance(name, str) else None


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
