"""One sample of an endpoint's counters, for the browser to chart.

The page asks for a sample every few seconds and charts the differences between samples:
rates from the request counters, p50/p99 from the latency histogram's buckets. Keeping the
history in the browser costs the gateway nothing when nobody watches, holds no state across
its worker processes, and reads the metrics through the same CAN_VIEW API as anyone else.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import Response

from servegate.gateway.responses import OrjsonResponse
from servegate.ui.api_client import api_for

_REQUESTS = "servegate_requests_total"
_BUCKET = "servegate_request_seconds_bucket"


def sample(openmetrics: str) -> dict[str, Any]:
    """``{"requests": {served: n}, "client_errors": n, "server_errors": n,
    "latency_buckets": [[upper bound in seconds, cumulative count], ...]}``, the buckets
    summed over served models (``null`` bounds +Inf)."""
    requests: dict[str, float] = defaultdict(float)
    errors = {"4": 0.0, "5": 0.0}
    buckets: dict[float, float] = defaultdict(float)
    for family in text_string_to_metric_families(openmetrics):
        for s in family.samples:
            if s.name == _REQUESTS:
                requests[s.labels["served_model"]] += s.value
                if s.labels["status"][:1] in errors:
                    errors[s.labels["status"][:1]] += s.value
            elif s.name == _BUCKET:
                buckets[float(s.labels["le"])] += s.value
    return {
        "requests": dict(requests),
        "client_errors": errors["4"],
        "server_errors": errors["5"],
        "latency_buckets": [
            [None if bound == float("inf") else bound, count]
            for bound, count in sorted(buckets.items())
        ],
    }


async def endpoint_sample(request: Request) -> Response:
    name = request.path_params["name"]
    text = await api_for(request).text(f"/api/2.0/serving-endpoints/{name}/metrics")
    return OrjsonResponse({"time": time.time(), **sample(text)})
