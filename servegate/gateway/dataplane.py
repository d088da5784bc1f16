"""The data plane front: pick a served model by traffic, forward the bytes to a replica.

The body is not parsed here; the replica decodes and validates it. A request that could not
reach a replica (its socket gone) is tried on another. One a replica dropped mid-way is tried
once more on another replica when the first is found dead (it was killed, or the request went
out on a pooled connection the moment it died); otherwise, or a second time, it becomes a 503
with ``Retry-After`` so clients retry. For an endpoint with an inference table,
each request the caller may make (whatever its answer) is handed to the capture queue.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from servegate.backends.base import ReplicaHandle
from servegate.backends.clients import (
    ReplicaAnswer,
    ReplicaDropped,
    ReplicaTimeout,
    ReplicaUnreachable,
)
from servegate.body import read_limited_body
from servegate.errors import (
    DeadlineExceeded,
    RequestLimitExceeded,
    ResourceDoesNotExist,
    ServegateError,
    TemporarilyUnavailable,
)
from servegate.gateway.context import GatewayContext, caller_of
from servegate.gateway.routing import EndpointRoutes
from servegate.gateway.traffic import choose_served
from servegate.observability import metrics, request_ids
from servegate.observability.access_log import log_access
from servegate.observability.inference_capture import Exchange
from servegate.store.models import SERVING_ENDPOINT

SERVED_MODEL_HEADER = "served-model-name"
_FORWARDED_REQUEST_HEADERS = frozenset(
    {b"content-type", b"accept", b"inference-header-content-length"}
)
_RETRY_AFTER_S = 1
_WAKE_POLL_S = 0.05
_WAKE_REPEAT_S = 1.0  # ask again, in case leadership moved while the request waited


async def routes_of(request: Request, context: GatewayContext, name: str) -> EndpointRoutes:
    """The endpoint's routes, if the caller may query it (404 if unknown, 403 if not allowed)."""
    routes = context.routing.get(name)
    if routes is None or routes.config_version is None:
        await context.routing.catch_up()  # a follower may be a moment behind its leader
        routes = context.routing.get(name)
    if routes is None:  # not published yet: just created, or unknown (404)
        endpoint_id = (await run_in_threadpool(context.endpoints.get, name)).id
    else:
        endpoint_id = routes.id
    caller = caller_of(request)
    context.access.require(caller, SERVING_ENDPOINT, endpoint_id, "CAN_QUERY", f"endpoint '{name}'")
    if routes is None or routes.config_version is None:
        raise TemporarilyUnavailable(
            f"Endpoint '{name}' is not ready yet; its served models are starting.",
            retry_after=_RETRY_AFTER_S,
        )
    return routes


async def _check_rate(request: Request, context: GatewayContext, routes: EndpointRoutes) -> None:
    try:
        await context.rate_limiter.check(routes.id, routes.rate_limits, caller_of(request))
    except RequestLimitExceeded:
        metrics.RATE_LIMITED.labels(routes.name).inc()
        raise


def pick_served(routes: EndpointRoutes, served: str | None) -> str:
    if served is not None:
        if served not in routes.replicas:
            raise ResourceDoesNotExist(
                f"Served model '{served}' does not exist in endpoint '{routes.name}'."
            )
        return served
    chosen = choose_served(routes.routes, routes.available(), random.random())
    if chosen is None:
        raise TemporarilyUnavailable(
            f"Endpoint '{routes.name}' has no served model ready to answer; retry shortly.",
            retry_after=_RETRY_AFTER_S,
        )
    return chosen


async def _awaken(
    context: GatewayContext,
    routes: EndpointRoutes,
    served: str,
    unreachable: frozenset[str] = frozenset(),
) -> list[ReplicaHandle]:
    """Replicas of a served entity scaled to zero, started for this request: it waits, at
    most ``wake_timeout_s``, then gets 503 with ``Retry-After``. ``unreachable``: addresses
    this request found gone (a follower's snapshot may still list replicas that just
    stopped)."""
    timeout = context.settings.wake_timeout_s
    deadline = time.monotonic() + timeout
    asked_at = float("-inf")
    while (now := time.monotonic()) < deadline:
        if now - asked_at >= _WAKE_REPEAT_S:
            await context.role.wake_entity(routes.id, served)
            asked_at = now
        await context.routing.next_change(min(_WAKE_POLL_S, deadline - now))
        current = context.routing.get(routes.name)
        if current is None or served not in current.replicas:
            break  # deleted or reconfigured meanwhile
        ready = [r for r in current.ready_replicas(served) if r.address not in unreachable]
        if ready:
            return ready
    raise TemporarilyUnavailable(
        f"Served model '{served}' was scaled to zero and is still starting after "
        f"{timeout:g}s; retry shortly.",
        retry_after=_RETRY_AFTER_S,
    )


class _NoReplicaReached(Exception):
    """None of the replicas tried could be reached: the request is still unsent."""


@dataclass(frozen=True)
class ReplicaCall:
    """What a request becomes at a replica: MLflow's ``/invocations`` unless said otherwise."""

    path: str = "/invocations"
    method: str = "POST"


INVOCATIONS = ReplicaCall()


async def _forward(
    replicas: list[ReplicaHandle],
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    call: ReplicaCall = INVOCATIONS,
) -> ReplicaAnswer:
    retried = False
    for index, replica in enumerate(ordered := sorted(replicas, key=lambda r: r.inflight)):
        replica.inflight += 1
        try:
            return await replica.client.post(call.path, body, headers, timeout, call.method)
        except ReplicaUnreachable:
            continue  # never reached the replica: safe to try the next one
        except ReplicaTimeout as error:
            raise DeadlineExceeded(f"The model did not answer within {timeout:.0f}s.") from error
        except ReplicaDropped as error:
            if retried or index == len(ordered) - 1 or not await replica.client.gone():
                raise TemporarilyUnavailable(
                    "The replica answering this request stopped before it replied; retry.",
                    retry_after=_RETRY_AFTER_S,
                ) from error
            retried = True  # once: a request that kills replicas must not kill them all
        finally:
            replica.inflight -= 1
    raise _NoReplicaReached


def _unreachable() -> TemporarilyUnavailable:
    return TemporarilyUnavailable(
        "No replica of this served model is reachable right now; retry shortly.",
        retry_after=_RETRY_AFTER_S,
    )


async def _request_parts(request: Request, context: GatewayContext) -> tuple[bytes, dict[str, str]]:
    body = b""
    if request.method != "GET":
        body = await read_limited_body(request, context.settings.max_request_bytes)
    headers = forwarded_headers(request.scope["headers"])
    headers[request_ids.HEADER] = request_ids.current.get() or ""
    return body, headers


def forwarded_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers a replica is sent (the first of each, as the client sent it)."""
    headers: dict[str, str] = {}
    for name, value in raw:  # lower-case bytes, as the server parsed them
        if name in _FORWARDED_REQUEST_HEADERS:
            headers.setdefault(name.decode(), value.decode("latin-1"))
    return headers


def answer_headers(answer: ReplicaAnswer, served: str) -> dict[str, str]:
    """The headers of a replica's answer as the gateway passes it on."""
    return {
        **answer.headers,
        "content-type": answer.content_type,
        SERVED_MODEL_HEADER: served,
        request_ids.HEADER: request_ids.current.get() or "",
    }


def _answer(answer: ReplicaAnswer, served: str) -> Response:
    return Response(answer.body, status_code=answer.status, headers=answer_headers(answer, served))


async def relay(request: Request, replicas: list[ReplicaHandle], served: str) -> Response:
    """Forward the request's body to one of ``replicas`` and answer with what it says."""
    context: GatewayContext = request.app.state.context
    with Measured(request, context, None, served) as measured:
        measured.status = (response := await _relay(request, context, replicas, served)).status_code
        return response


async def _relay(
    request: Request, context: GatewayContext, replicas: list[ReplicaHandle], served: str
) -> Response:
    ready = [replica for replica in replicas if replica.ready]
    if not ready:
        raise TemporarilyUnavailable(
            f"Served model '{served}' is not ready; retry shortly.", retry_after=_RETRY_AFTER_S
        )
    body, headers = await _request_parts(request, context)
    try:
        answer = await _forward(ready, body, headers, context.settings.replica_request_timeout_s)
    except _NoReplicaReached:
        raise _unreachable() from None
    return _answer(answer, served)


async def invoke(
    request: Request,
    endpoint: str,
    served: str | None,
    call_for: Callable[[str], ReplicaCall] = lambda _: INVOCATIONS,
) -> Response:
    """Answer ``request`` with a replica of ``served`` (None: drawn by traffic) of
    ``endpoint``, sent what ``call_for(served)`` says."""
    request_id = request_ids.begin(request.headers.get(request_ids.HEADER))
    context: GatewayContext = request.app.state.context
    routes = await routes_of(request, context, endpoint)
    if not routes.capture or request.method != "POST":  # reading metadata is no inference
        return await _answer_request(request, context, routes, served, call_for, None)
    path, requester = request.scope["path"], caller_of(request).name
    with context.capture.exchange(routes, path, request_id, requester) as exchange:
        response = await _answer_request(request, context, routes, served, call_for, exchange)
        exchange.answered(response.status_code, response.body)
        return response


async def _answer_request(
    request: Request,
    context: GatewayContext,
    routes: EndpointRoutes,
    served: str | None,
    call_for: Callable[[str], ReplicaCall],
    exchange: Exchange | None,
) -> Response:
    """The answer of an allowed request; ``exchange`` is told what is captured."""
    await _check_rate(request, context, routes)
    served = pick_served(routes, served)
    if exchange is not None:
        exchange.served = served
    with Measured(request, context, routes.name, served) as measured:
        response = await _serve(request, context, routes, served, call_for(served), exchange)
        measured.status = response.status_code
        return response


class Measured:
    """Counts a request to a served model by status and times it (for an endpoint; per-model
    serving URLs are only timed), and writes its access log line when asked (and given the
    request)."""

    def __init__(
        self, request: Request | None, context: GatewayContext, endpoint: str | None, served: str
    ) -> None:
        self.series = metrics.served_series(endpoint, served) if endpoint is not None else None
        self.request = request if context.settings.access_log else None
        self.served = served
        self.status = 500

    def __enter__(self) -> Measured:
        self.started = time.perf_counter()
        if self.series is not None:
            self.series.inflight.inc()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        elapsed = time.perf_counter() - self.started
        if isinstance(error, ServegateError):
            self.status = error.status_code
        elif isinstance(error, ClientDisconnect):
            self.status = 400  # what the app answers, to no one
        if self.series is not None:
            self.series.inflight.dec()
            self.series.requests(self.status).inc()
            self.series.latency.observe(elapsed)
        if self.request is not None:
            log_access(
                self.request, self.status, elapsed, self.served, caller_of(self.request).name
            )


async def _serve(
    request: Request,
    context: GatewayContext,
    routes: EndpointRoutes,
    served: str,
    call: ReplicaCall,
    exchange: Exchange | None,
) -> Response:
    ready = routes.ready_replicas(served)
    if not ready and served not in routes.scale_to_zero:
        raise TemporarilyUnavailable(
            f"Served model '{served}' is not ready; retry shortly.", retry_after=_RETRY_AFTER_S
        )
    body, headers = await _request_parts(request, context)
    if exchange is not None:
        exchange.request = body
    return _answer(await deliver(context, routes, served, ready, body, headers, call), served)


async def deliver(
    context: GatewayContext,
    routes: EndpointRoutes,
    served: str,
    ready: list[ReplicaHandle],
    body: bytes,
    headers: dict[str, str],
    call: ReplicaCall = INVOCATIONS,
) -> ReplicaAnswer:
    """A replica's answer: one of ``ready``'s, or, when none can be reached and ``served``
    scales to zero, that of a replica woken for this request."""
    wakeable = served in routes.scale_to_zero
    timeout = context.settings.replica_request_timeout_s
    unreachable: frozenset[str] = frozenset()
    if ready:
        try:
            return await _forward(ready, body, headers, timeout, call)
        except _NoReplicaReached:
            if not wakeable:
                raise _unreachable() from None
            unreachable = frozenset(replica.address for replica in ready)
    ready = await _awaken(context, routes, served, unreachable)
    try:
        return await _forward(ready, body, headers, timeout, call)
    except _NoReplicaReached:
        raise _unreachable() from None


async def invoke_endpoint(request: Request) -> Response:
    return await invoke(request, request.path_params["name"], None)


async def invoke_served_model(request: Request) -> Response:
    return await invoke(request, request.path_params["name"], request.path_params["served"])


routes = [
    Route("/serving-endpoints/{name}/invocations", invoke_endpoint, methods=["POST"]),
    Route(
        "/serving-endpoints/{name}/served-models/{served}/invocations",
        invoke_served_model,
        methods=["POST"],
    ),
]
