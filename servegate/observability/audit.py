"""Records every control-plane change and every refused request, off the request path.

The middleware sees each response's status; what it keeps goes into a bounded queue that a
background task writes to the store in batches. Reads (GET) and queries that succeed are not
audited: they are not changes, and they are the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servegate.store.audit import AuditStore
from servegate.store.models import AuditEventRow

logger = logging.getLogger(__name__)

_QUEUE_LIMIT = 10_000
_FLUSH_S = 0.5
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_NOT_CONTROL_PLANE = (
    "/serving-endpoints/",
    "/model/",
    "/api/2.0/mlflow/",
    "/ajax-api/",
    "/api/2.0/mlflow-artifacts/",
    "/v2/",
)
_LEGACY_CONTROL = "/api/2.0/mlflow/endpoints/"
_WEB_UI = ("/ui/", "/mlflow/")


def audited(method: str, path: str, status: int) -> bool:
    if path.startswith(_WEB_UI):  # the UI acts through the API, where each call is audited
        return False
    if status in (401, 403):
        return True
    if method in _READS:
        return False
    if path.startswith(_LEGACY_CONTROL) or path.startswith("/api/2.0/preview/mlflow/endpoints/"):
        return True
    return not path.startswith(_NOT_CONTROL_PLANE)


class AuditLog:
    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self._queue: asyncio.Queue[AuditEventRow] = asyncio.Queue(_QUEUE_LIMIT)
        self.dropped = 0

    def record(self, event: AuditEventRow) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        """Write what was recorded, in batches, until cancelled (then write the rest)."""
        try:
            while True:
                await asyncio.sleep(_FLUSH_S)
                await self.flush()
        finally:
            with contextlib.suppress(Exception):
                await self.flush()

    async def flush(self) -> None:
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            try:
                await asyncio.to_thread(self.store.add, batch)
            except Exception:
                logger.exception("could not write %d audit events", len(batch))


class AuditMiddleware:
    """Outermost middleware: sees the caller the auth middleware set, and the final status."""

    def __init__(self, app: ASGIApp, audit: AuditLog) -> None:
        self.app = app
        self.audit = audit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            method, path = scope["method"], scope["path"]
            if audited(method, path, status):
                caller = scope.get("servegate.caller")
                client = scope.get("client")
                self.audit.record(
                    AuditEventRow(
                        timestamp=int(time.time() * 1000),
                        principal=caller.name if caller else None,
                        method=method,
                        path=path,
                        status=status,
                        client=f"{client[0]}:{client[1]}" if client else None,
                    )
                )
