"""Prometheus metrics of endpoints and served models, shared by every process.

The gateway points ``PROMETHEUS_MULTIPROC_DIR`` at a directory under its home before
anything imports prometheus_client (``servegate.observability.metrics_dir``); its workers,
the zygote and the replicas inherit it, so each process writes its samples there and
``/metrics`` sums them (prometheus_client's multiprocess mode): requests counted by a
replica that died since still count, and a restarted replica adds to its predecessor's.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    multiprocess,
)
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest

from servegate.observability.metrics_dir import MULTIPROC_VARIABLE

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096)
LABELS = ("endpoint", "served_model")

REQUESTS = Counter(
    "servegate_requests", "Requests to a served model, by HTTP status.", (*LABELS, "status")
)
LATENCY = Histogram(
    "servegate_request_seconds",
    "Time the gateway took to answer, replica included.",
    LABELS,
    buckets=LATENCY_BUCKETS,
)
INFLIGHT = Gauge(
    "servegate_inflight_requests",
    "Requests to a served model the gateway is answering now.",
    LABELS,
    multiprocess_mode="livesum",
)
RATE_LIMITED = Counter(
    "servegate_rate_limited_requests", "Requests refused by a rate limit (429).", ("endpoint",)
)
REPLICAS = Gauge(
    "servegate_replicas",
    "Replicas of a served model: wanted, and ready.",
    (*LABELS, "state"),
    multiprocess_mode="mostrecent",
)
COLD_STARTS = Counter(
    "servegate_cold_starts", "Replicas started for a request while scaled to zero.", LABELS
)
SCALE_EVENTS = Counter(
    "servegate_scale_events", "Changes of a served model's replica count.", (*LABELS, "event")
)
REPLICA_LATENCY = Histogram(
    "servegate_replica_request_seconds",
    "Time a replica took to answer (decode, features, predict, encode).",
    LABELS,
    buckets=LATENCY_BUCKETS,
)
BATCH_ROWS = Histogram(
    "servegate_batch_rows", "Rows per predict call of the fast path.", LABELS, buckets=ROW_BUCKETS
)
BUNDLE_REQUESTS = Histogram(
    "servegate_bundle_requests",
    "Requests per bundle the gateway sent a replica.",
    LABELS,
    buckets=ROW_BUCKETS,
)
INFERENCE_WRITTEN = Counter(
    "servegate_inference_records_written",
    "Requests written to the endpoint's inference table.",
    ("endpoint",),
)
INFERENCE_DROPPED = Counter(
    "servegate_inference_records_dropped",
    "Requests the inference table lost: the queue was full, or writing failed every time.",
    ("endpoint", "reason"),
)
INFERENCE_WRITE_ERRORS = Counter(
    "servegate_inference_write_errors",
    "Failed attempts to write a batch of inference records (each retried a few times).",
    ("endpoint",),
)
LOG_BYTES_DROPPED = Counter(
    "servegate_log_bytes_dropped",
    "Bytes of a replica's log output lost because the disk holding its log was full.",
    LABELS,
)
FEATURE_LOOKUP = Histogram(
    "servegate_feature_lookup_seconds",
    "Time to read a request's features from the online store.",
    LABELS,
    buckets=LATENCY_BUCKETS,
)


@dataclass
class ServedSeries:
    """The gateway's per-request series of one served model, labelled once."""

    labels: tuple[str, str]
    inflight: Any
    latency: Any
    by_status: dict[int, Any] = field(default_factory=dict)

    def requests(self, status: int) -> Any:
        counter = self.by_status.get(status)
        if counter is None:
            counter = self.by_status[status] = REQUESTS.labels(*self.labels, str(status))
        return counter


@functools.lru_cache(maxsize=4096)
def served_series(endpoint: str, served: str) -> ServedSeries:
    """The hot path's series for a served model: ``labels`` looked up once, not per request."""
    labels = (endpoint, served)
    return ServedSeries(labels, INFLIGHT.labels(*labels), LATENCY.labels(*labels))


def process_gone(pid: int) -> None:
    """A process that wrote metrics has exited: drop its live gauges."""
    if os.environ.get(MULTIPROC_VARIABLE):
        multiprocess.mark_process_dead(pid)


class _Families:
    """Collected metric families, or only the samples of one endpoint."""

    def __init__(self, families: list[Metric], endpoint: str | None) -> None:
        self.families = families
        self.endpoint = endpoint

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            if self.endpoint is not None:
                family.samples = [
                    s for s in family.samples if s.labels.get("endpoint") == self.endpoint
                ]
            if family.samples:
                yield family


def exposition(endpoint: str | None = None) -> bytes:
    """Every process's metrics as OpenMetrics text; only one endpoint's if given."""
    if os.environ.get(MULTIPROC_VARIABLE):
        source = CollectorRegistry()
        multiprocess.MultiProcessCollector(source)
    else:  # no gateway set the directory up: this process's own metrics
        source = REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(source.collect()), endpoint))
    return generate_latest(registry)
