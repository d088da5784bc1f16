"""The replica's routes: MLflow's scoring protocol (``/invocations``, ``/ping``, ``/health``,
``/version``), and ``/load`` for the autoscaler (``servegate.replica.load``).

The app is only built once the model is loaded, so a replica that answers ``/ping`` can
predict. Every error leaves through ``servegate.errors.error_response``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio
import mlflow
import pandas as pd
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from servegate import invocation_bundles as bundles
from servegate import short_route
from servegate.body import read_limited_body
from servegate.errors import (
    InvalidParameterValue,
    ResourceDoesNotExist,
    ServegateError,
    error_response,
)
from servegate.features.join import FeatureJoiner
from servegate.observability import metrics, request_ids
from servegate.observability.access_log import log_access
from servegate.replica.batching import NO_WAIT_BATCHING, Batcher, Batching
from servegate.replica.bundled_invocations import INVOCATIONS_PATH, BundledInvocations
from servegate.replica.codecs import BodyCodec, Decoded, codec_for, row_count
from servegate.replica.encoding import encode_predictions
from servegate.replica.fastpath import FastPath
from servegate.replica.load import LoadMeter
from servegate.replica.model import LoadedModel
from servegate.replica.oip_routes import oip_routes
from servegate.replica.prediction_slots import PredictionSlots
from servegate.replica.signature_rows import SignatureRows
from servegate.short_route import Endpoint

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
_INLINE_DECODE_BYTES = 64 * 1024  # bigger bodies are decoded off the event loop


def score(
    codec: BodyCodec,
    body: bytes,
    model: LoadedModel,
    max_rows: int,
    features: FeatureJoiner | None = None,
    frames: SignatureRows | None = None,
) -> bytes:
    """The request pipeline: decode ▸ features ▸ (enforce signature and) predict ▸ encode.
    With ``frames``, a request it decodes with certainty (number, string and boolean columns)
    skips MLflow's decoding (``servegate.replica.signature_rows``).

    Blocking (the feature lookups) and CPU-bound, so it runs in a worker thread."""
    frame = None
    if frames is not None and codec.content_type == JSON_CONTENT_TYPE:
        frame = frames.frame(body)
    decoded = Decoded(frame, None) if frame is not None else codec.decode(body, model)
    if features is not None:
        if not isinstance(decoded.data, pd.DataFrame):
            raise InvalidParameterValue(
                "This model looks features up: send rows (dataframe_split, dataframe_records, "
                "instances as records, CSV or Parquet)."
            )
        decoded.data = features.join(decoded.data)
    if not decoded.unwrapped:
        rows = row_count(decoded.data)
        if rows == 0:
            raise InvalidParameterValue("The request has no rows to predict.")
        if rows is not None and rows > max_rows:
            raise InvalidParameterValue(
                f"The request has {rows} rows; the limit is {max_rows} rows per request."
            )
    raw = model.predict(decoded.data, decoded.params)
    return encode_predictions(raw, unwrapped=decoded.unwrapped)


class MethodNotAllowed(ServegateError):
    status_code = 405
    error_code = "BAD_REQUEST"


def build_app(
    model: LoadedModel,
    max_request_bytes: int,
    concurrency: int,
    max_rows: int,
    fast_path: FastPath | None = None,
    frames: SignatureRows | None = None,
    batching: Batching = NO_WAIT_BATCHING,
    features: FeatureJoiner | None = None,
    metrics_labels: tuple[str, str] = ("", ""),
    access_log: bool = False,
) -> ASGIApp:
    """The scoring app for a loaded model; predict runs in worker threads, up to
    ``concurrency`` at a time while predictions wait (``servegate.replica.prediction_slots``;
    the rest queue), so the event loop keeps answering health checks. Requests
    the fast path takes are batched (``servegate.replica.batching``); on the pyfunc path,
    ``frames`` decodes what it can (``score``)."""
    slots = PredictionSlots(concurrency)
    meter = LoadMeter()
    batcher = None
    if fast_path is not None:
        max_batch_rows = batching.max_rows if fast_path.row_exact else 1
        batcher = Batcher(
            fast_path.predict,
            max_batch_rows,
            batching.max_wait_s,
            on_batch=metrics.BATCH_ROWS.labels(*metrics_labels).observe,
        )

    async def fast_answer(body: bytes) -> Response | None:
        """The answer by the fast path, or None to take the pyfunc path."""
        assert fast_path is not None and batcher is not None
        if len(body) <= _INLINE_DECODE_BYTES:
            rows = fast_path.decode(body)
        else:
            rows = await anyio.to_thread.run_sync(fast_path.decode, body)
        if rows is None or len(rows) > max_rows:
            return None
        try:
            raw = await batcher.submit(rows)
        except Exception:  # noqa: BLE001 - the pyfunc path words the error as it always has
            return None
        return Response(encode_predictions(raw), media_type="application/json")

    async def invocations(request: Request) -> Response:
        meter.begin()
        try:
            return await score_request(request)
        finally:
            meter.end()

    async def score_request(request: Request) -> Response:
        codec = codec_for(request.headers.get("content-type"))
        body = await read_limited_body(request, max_request_bytes)
        if not body.strip():
            raise InvalidParameterValue("The request body is empty; send the rows to predict.")
        if batcher is not None and codec.content_type == JSON_CONTENT_TYPE:
            answer = await fast_answer(body)
            if answer is not None:
                return answer
        payload = await slots.run(score, codec, body, model, max_rows, features, frames)
        return Response(payload, media_type="application/json")

    protocol = oip_routes(model, slots, meter, max_request_bytes, max_rows, features)
    return replica_app(invocations, meter, metrics_labels, access_log, protocol)


def replica_app(
    invocations: Endpoint,
    meter: LoadMeter,
    metrics_labels: tuple[str, str],
    access_log: bool = False,
    more_routes: list[BaseRoute] | None = None,
) -> ASGIApp:
    """A replica's app around its ``/invocations``: MLflow's health and version routes, the
    load the autoscaler reads, and every error in the API's shape."""

    async def ping(request: Request) -> Response:
        return PlainTextResponse("\n")

    async def version(request: Request) -> Response:
        return PlainTextResponse(mlflow.__version__)

    async def load(request: Request) -> Response:
        return JSONResponse(meter.reading())

    latency = metrics.REPLICA_LATENCY.labels(*metrics_labels)

    async def timed(request: Request) -> Response:
        request_id = request_ids.begin(request.headers.get(request_ids.HEADER))
        started = time.perf_counter()
        status = 500
        try:
            response = await invocations(request)
            status = response.status_code
            response.headers[request_ids.HEADER] = request_id
            return response
        except ServegateError as error:
            status = error.status_code
            raise
        finally:
            elapsed = time.perf_counter() - started
            latency.observe(elapsed)
            if access_log:
                log_access(request, status, elapsed, metrics_labels[1])

    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/load", load, methods=["GET"]),
            Route(INVOCATIONS_PATH, timed, methods=["POST"]),
            *(more_routes or []),
        ],
        exception_handlers={
            ServegateError: servegate_error,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    bundle_sizes = metrics.BUNDLE_REQUESTS.labels(*metrics_labels).observe
    return ShortInvocations(app, timed, bundle_sizes)


class ShortInvocations:
    """``/invocations``, which every prediction takes, skips Starlette's router and its error
    and exception middleware (``servegate.short_route``), and so does a bundle of them from the
    gateway (``servegate.replica.bundled_invocations``). Every other request goes to ``app``."""

    def __init__(
        self, app: Starlette, invocations: Endpoint, on_bundle: Callable[[int], None]
    ) -> None:
        self.app = app
        self.invocations = invocations
        self.bundled = BundledInvocations(self, on_bundle)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = scope["type"] == "http" and scope["method"] == "POST"
        path = _route_path(scope) if hot else None
        if path == INVOCATIONS_PATH:
            await short_route.answer(self.app, self.invocations, scope, receive, send)
        elif path == bundles.PATH:
            await self.bundled(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path under the app's mount point (Ray Serve's route prefix, as ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def servegate_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServegateError)
    return error_response(error)


async def http_error(request: Request, error: Exception) -> Response:
    """Starlette's routing misses (404, 405) in the same JSON shape as every other error."""
    assert isinstance(error, HTTPException)
    where = f"{request.method} {request.url.path}"
    if error.status_code == 405:
        return error_response(MethodNotAllowed(f"Method not allowed: {where}."))
    if error.status_code == 404:
        return error_response(ResourceDoesNotExist(f"No route for {where}."))
    failure = ServegateError(f"{where}: {error.detail}")
    failure.status_code = error.status_code
    return error_response(failure)


async def internal_error(request: Request, error: Exception) -> Response:
    """A bug in the replica, not in the request: 500, naming the exception; the traceback
    goes to the replica's log, with the request id."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    failure = ServegateError(f"The replica failed: {type(error).__name__}: {error}")
    return error_response(failure)
