"""Inference tables on the data plane: requests captured into a bounded queue, written to a
sink in batches by a background task.

The request path only appends to the queue, and never waits: when the queue is full the
record is dropped and counted (``servegate_inference_records_dropped_total``), so a slow or
failing sink never slows serving. Turning the captured bytes into records (text, the
``client_request_id`` inside a body) and writing them happen in a worker thread. A batch
that cannot be written is tried again at the next flushes, ``ATTEMPTS`` times in all, then
dropped and counted; the failure is logged once and shown in the endpoint's
``state.payload_table`` until a write succeeds again. ``close`` writes everything still
held before the process exits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from servegate.errors import ServegateError, error_body
from servegate.inference_tables import InferenceRecord, RecordSink
from servegate.observability import metrics

if TYPE_CHECKING:
    from servegate.gateway.routing import EndpointRoutes

logger = logging.getLogger(__name__)

ATTEMPTS = 3
BATCH_RECORDS = 1000  # the writer starts at once when this many records wait
_CLOSING_PAUSE_S = 0.5  # between the last attempts, when the process stops
BASE64_PREFIX = "base64:"


@dataclass(frozen=True)
class CaptureLimits:
    queue_records: int = 10_000
    queue_bytes: int = 256 * 1024 * 1024
    max_payload_bytes: int = 1024 * 1024  # a larger body is kept as None
    flush_s: float = 1.0


@dataclass(frozen=True)
class WriterStatus:
    """How writing an endpoint's records goes (``state.payload_table``)."""

    status: str  # ACTIVE or FAILING
    message: str


class Exchange:
    """One request to an endpoint that captures, from its start to its answer.

    A context manager around the data plane's work: an error raised inside is recorded as
    the error response the client gets, and leaving it queues the record.
    """

    __slots__ = (
        "capture",
        "routes",
        "path",
        "request_id",
        "requester",
        "timestamp_ms",
        "started",
        "served",
        "request",
        "status",
        "response",
        "execution_time_ms",
    )

    def __init__(
        self,
        capture: InferenceCapture,
        routes: EndpointRoutes,
        path: str,
        request_id: str,
        requester: str,
    ) -> None:
        self.capture = capture
        self.routes = routes
        self.path = path  # errors are answered in the shape of the protocol of the path
        self.request_id = request_id
        self.requester = requester
        self.timestamp_ms = time.time_ns() // 1_000_000
        self.started = time.perf_counter()
        self.served: str | None = None
        self.request: bytes | None = None
        self.status = 500
        self.response: bytes | None = None
        self.execution_time_ms = 0.0

    def __enter__(self) -> Exchange:
        return self

    def answered(self, status: int, body: bytes) -> None:
        self.status, self.response = status, body

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if isinstance(error, ServegateError):
            body = error_body(error.error_code, error.message, self.path)
            self.answered(error.status_code, body)
        self.execution_time_ms = (time.perf_counter() - self.started) * 1000
        self.capture.record(self)

    def size(self) -> int:
        return len(self.request or b"") + len(self.response or b"")


def client_request_id(body: bytes | None) -> str | None:
    """Databricks' ``client_request_id`` body field (the body is parsed only if it has the
    name in it)."""
    if not body or b"client_request_id" not in body:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    value = data.get("client_request_id") if isinstance(data, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


def as_text(body: bytes | None) -> str | None:
    """A body as text; one that is not UTF-8 text (or holds NUL, which PostgreSQL's text
    refuses) as ``base64:`` and its Base64."""
    if body is None:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return BASE64_PREFIX + base64.b64encode(body).decode("ascii")
    return text


def to_record(exchange: Exchange) -> InferenceRecord:
    routes = exchange.routes
    model, version = routes.models.get(exchange.served or "", (None, None))
    return {
        "request_id": exchange.request_id,
        "client_request_id": client_request_id(exchange.request),
        "endpoint_id": routes.id,
        "endpoint_name": routes.name,
        "served_model_name": exchange.served,
        "model_name": model,
        "model_version": version,
        "timestamp_ms": exchange.timestamp_ms,
        "status_code": exchange.status,
        "execution_time_ms": round(exchange.execution_time_ms, 3),
        "requester": exchange.requester,
        "request": as_text(exchange.request),
        "response": as_text(exchange.response),
    }


@dataclass
class _Batch:
    """One endpoint's records of one flush (one write, all or nothing)."""

    endpoint_id: str
    endpoint_name: str
    exchanges: list[Exchange] = field(default_factory=list)
    attempts: int = 0


@dataclass
class _Health:
    failing_since_ms: int | None = None
    error: str = ""
    lost_queue_full: int = 0
    lost_write_failed: int = 0


class InferenceCapture:
    def __init__(self, sink: RecordSink, limits: CaptureLimits) -> None:
        self.sink = sink
        self.limits = limits
        self._queue: deque[Exchange] = deque()
        self._retrying: list[_Batch] = []
        self._held = 0  # records queued, being written or waiting to be retried
        self._held_bytes = 0
        self._wake_at = min(BATCH_RECORDS, max(1, limits.queue_records // 2))
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._health: dict[str, _Health] = {}
        self._queue_drops = 0
        self._queue_drops_reported = 0
        self._overloaded = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    # -- the request path ---------------------------------------------------------------

    def exchange(
        self, routes: EndpointRoutes, path: str, request_id: str, requester: str
    ) -> Exchange:
        return Exchange(self, routes, path, request_id, requester)

    def record(self, exchange: Exchange) -> None:
        limit = self.limits.max_payload_bytes
        if exchange.request is not None and len(exchange.request) > limit:
            exchange.request = None
        if exchange.response is not None and len(exchange.response) > limit:
            exchange.response = None
        size = exchange.size()
        if (
            self._held >= self.limits.queue_records
            or self._held_bytes + size > self.limits.queue_bytes
        ):
            self._queue_drops += 1
            self._health_of(exchange.routes.id).lost_queue_full += 1
            metrics.INFERENCE_DROPPED.labels(exchange.routes.name, "queue_full").inc()
            return
        self._queue.append(exchange)
        self._held += 1
        self._held_bytes += size
        if self._held >= self._wake_at:
            self._wakeup.set()

    # -- the writer ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop the writer once everything held is written (or has failed every attempt)."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.limits.flush_s)
            self._wakeup.clear()
            await self.flush()
        for _ in range(ATTEMPTS):
            await self.flush()
            if not self._held:
                return
            await asyncio.sleep(_CLOSING_PAUSE_S)
        logger.error("%d inference records could not be written before exit", self._held)
        for batch in self._retrying:
            self._drop(batch)

    async def flush(self) -> None:
        """Write what is held now: batches that failed before, then everything queued."""
        async with self._lock:
            queued, self._queue = self._queue, deque()
            batches: dict[str, _Batch] = {}
            for exchange in queued:
                routes = exchange.routes
                batch = batches.get(routes.id)
                if batch is None:
                    batch = batches[routes.id] = _Batch(routes.id, routes.name)
                batch.exchanges.append(exchange)
            retrying, self._retrying = self._retrying, []
            for batch in [*retrying, *batches.values()]:
                await self._write(batch)
            self._report_queue_drops()

    async def _write(self, batch: _Batch) -> None:
        health = self._health_of(batch.endpoint_id)
        try:
            await asyncio.to_thread(self._write_now, batch)
        except Exception as error:
            batch.attempts += 1
            metrics.INFERENCE_WRITE_ERRORS.labels(batch.endpoint_name).inc()
            if health.failing_since_ms is None:
                health.failing_since_ms = int(time.time() * 1000)
                logger.error(
                    "inference records of endpoint %r cannot be written to %s (%s); serving "
                    "continues, each batch is tried %d times",
                    batch.endpoint_name,
                    self.sink.description,
                    error,
                    ATTEMPTS,
                )
            health.error = str(error) or type(error).__name__
            if batch.attempts < ATTEMPTS:
                self._retrying.append(batch)
            else:
                self._drop(batch)
            return
        self._release(batch)
        metrics.INFERENCE_WRITTEN.labels(batch.endpoint_name).inc(len(batch.exchanges))
        if health.failing_since_ms is not None:
            health.failing_since_ms = None
            logger.warning(
                "inference records of endpoint %r are written again; %d were dropped so far",
                batch.endpoint_name,
                health.lost_write_failed,
            )

    def _drop(self, batch: _Batch) -> None:
        """Give up on a batch that failed every attempt."""
        self._release(batch)
        count = len(batch.exchanges)
        self._health_of(batch.endpoint_id).lost_write_failed += count
        metrics.INFERENCE_DROPPED.labels(batch.endpoint_name, "write_failed").inc(count)

    def _write_now(self, batch: _Batch) -> None:
        self.sink.write(batch.endpoint_name, [to_record(e) for e in batch.exchanges])

    def _release(self, batch: _Batch) -> None:
        self._held -= len(batch.exchanges)
        self._held_bytes -= sum(exchange.size() for exchange in batch.exchanges)

    def _report_queue_drops(self) -> None:
        """Log once when the queue starts dropping records, and once when it stops."""
        dropping = self._queue_drops > self._queue_drops_reported
        if dropping and not self._overloaded:
            logger.warning(
                "the inference record queue is full (%d records): records are dropped and "
                "counted in servegate_inference_records_dropped_total until it drains",
                self.limits.queue_records,
            )
        elif not dropping and self._overloaded:
            logger.warning(
                "the inference record queue drains again; %d records dropped in all",
                self._queue_drops,
            )
        self._overloaded = dropping
        self._queue_drops_reported = self._queue_drops

    # -- status -------------------------------------------------------------------------

    def _health_of(self, endpoint_id: str) -> _Health:
        health = self._health.get(endpoint_id)
        if health is None:
            health = self._health[endpoint_id] = _Health()
        return health

    def status(self, endpoint_id: str) -> WriterStatus:
        """This process's view of writing the endpoint's records."""
        health = self._health.get(endpoint_id) or _Health()
        lost = []
        if health.lost_queue_full:
            lost.append(f"{health.lost_queue_full} because the queue was full")
        if health.lost_write_failed:
            lost.append(f"{health.lost_write_failed} because writing failed")
        dropped = f" Records dropped since the gateway started: {', '.join(lost)}." if lost else ""
        if health.failing_since_ms is not None:
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(health.failing_since_ms / 1000))
            return WriterStatus(
                "FAILING",
                f"Writing to {self.sink.description} fails since {since}: {health.error}. "
                f"Serving continues; each batch is tried {ATTEMPTS} times, then dropped." + dropped,
            )
        return WriterStatus("ACTIVE", f"Records are written to {self.sink.description}.{dropped}")
