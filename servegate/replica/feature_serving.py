"""A replica serving a feature spec alone (a feature serving endpoint): the request's rows
with their features looked up and computed, as ``{"outputs": [row, ...]}``.

The same routes as a model replica (``/invocations``, ``/ping``, ``/health``, ``/version``,
``/load``), the same error shape, the same feature stage (``servegate.features.join``).
"""

from __future__ import annotations

import anyio
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from servegate.body import read_limited_body
from servegate.errors import InvalidParameterValue
from servegate.features.frames import frame_of
from servegate.features.join import FeatureJoiner
from servegate.replica.app import replica_app
from servegate.replica.load import LoadMeter


def _outputs(joiner: FeatureJoiner, content_type: str, body: bytes, max_rows: int) -> bytes:
    frame = frame_of(content_type, body)
    if frame.empty:
        raise InvalidParameterValue("The request has no rows.")
    if len(frame) > max_rows:
        raise InvalidParameterValue(
            f"The request has {len(frame)} rows; the limit is {max_rows} rows per request."
        )
    joined = joiner.join(frame)
    records = joined.astype(object).where(pd.notna(joined), None).to_json(orient="records")
    return b'{"outputs": ' + records.encode() + b"}"


def build_feature_serving_app(
    joiner: FeatureJoiner,
    max_request_bytes: int,
    concurrency: int,
    max_rows: int,
    metrics_labels: tuple[str, str] = ("", ""),
    access_log: bool = False,
) -> ASGIApp:
    limiter = anyio.CapacityLimiter(concurrency)
    meter = LoadMeter()

    async def invocations(request: Request) -> Response:
        meter.begin()
        try:
            body = await read_limited_body(request, max_request_bytes)
            content_type = request.headers.get("content-type", "application/json")
            payload = await anyio.to_thread.run_sync(
                _outputs, joiner, content_type, body, max_rows, limiter=limiter
            )
            return Response(payload, media_type="application/json")
        finally:
            meter.end()

    return replica_app(invocations, meter, metrics_labels, access_log)
