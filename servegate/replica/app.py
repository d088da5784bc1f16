"""The replica's routes: MLflow's scoring protocol (``/invocations``, ``/ping``, ``/health``,
``/version``)."""

from __future__ import annotations

import anyio
import mlflow
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from servegate.body import read_limited_body
from servegate.errors import InvalidParameterValue, ServegateError, error_response
from servegate.replica.codecs import decoder_for, has_rows
from servegate.replica.encoding import encode_predictions
from servegate.replica.model import LoadedModel


def build_app(model: LoadedModel, max_request_bytes: int, concurrency: int) -> Starlette:
    """The scoring app for a loaded model; predict runs in worker threads, ``concurrency``
    at a time, so the event loop keeps accepting and answering health checks."""
    limiter = anyio.CapacityLimiter(concurrency)

    async def ping(request: Request) -> Response:
        return PlainTextResponse("\n")

    async def version(request: Request) -> Response:
        return PlainTextResponse(mlflow.__version__)

    async def invocations(request: Request) -> Response:
        decode = decoder_for(request.headers.get("content-type"))
        body = await read_limited_body(request, max_request_bytes)
        if not body.strip():
            raise InvalidParameterValue("The request body is empty; send the rows to predict.")

        def run() -> bytes:
            decoded = decode(body, model)
            if not decoded.unwrapped and not has_rows(decoded.data):
                raise InvalidParameterValue("The request has no rows to predict.")
            raw = model.predict(decoded.data, decoded.params)
            return encode_predictions(raw, unwrapped=decoded.unwrapped)

        payload = await anyio.to_thread.run_sync(run, limiter=limiter)
        return Response(payload, media_type="application/json")

    async def servegate_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ServegateError)
        return error_response(error)

    async def internal_error(request: Request, error: Exception) -> Response:
        failure = ServegateError(f"The replica failed: {type(error).__name__}: {error}")
        return error_response(failure)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ],
        exception_handlers={ServegateError: servegate_error, Exception: internal_error},
    )
