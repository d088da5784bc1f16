"""The capture queue and its writer, against a sink that can be made to fail."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid

import orjson
import pytest
from prometheus_client import REGISTRY

from servegate.errors import InvalidParameterValue
from servegate.gateway.routing import EndpointRoutes
from servegate.inference_tables import InferenceRecord
from servegate.observability.inference_capture import (
    ATTEMPTS,
    CaptureLimits,
    InferenceCapture,
    as_text,
    client_request_id,
)

INVOCATIONS = "/serving-endpoints/shop/invocations"


class Sink:
    description = "a list"

    def __init__(self) -> None:
        self.records: list[InferenceRecord] = []
        self.failure: Exception | None = None
        self.attempts = 0

    def write(self, endpoint_name: str, records: list[InferenceRecord]) -> None:
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        self.records += records


def endpoint() -> EndpointRoutes:
    """An endpoint of its own, so each test's metric series start at zero."""
    name = f"shop-{uuid.uuid4().hex[:8]}"
    return EndpointRoutes(uuid.uuid4().hex, name, 1, models={"a": ("churn", "3")})


def sample(name: str, endpoint: str, reason: str | None = None) -> float:
    labels = {"endpoint": endpoint, **({"reason": reason} if reason else {})}
    return REGISTRY.get_sample_value(name, labels) or 0.0


def answer(capture: InferenceCapture, routes: EndpointRoutes, i: int) -> None:
    with capture.exchange(routes, INVOCATIONS, f"r{i}", "ana") as exchange:
        exchange.served = "a"
        exchange.request = orjson.dumps({"inputs": [i], "client_request_id": f"c{i}"})
        exchange.answered(200, b'{"predictions": [1]}')


def test_records_carry_the_request_and_its_answer() -> None:
    async def scenario() -> list[InferenceRecord]:
        sink = Sink()
        capture = InferenceCapture(sink, CaptureLimits())
        routes = endpoint()
        answer(capture, routes, 1)
        with (
            pytest.raises(InvalidParameterValue),
            capture.exchange(routes, INVOCATIONS, "r2", "bo"),
        ):
            raise InvalidParameterValue("limit must be positive.")
        with pytest.raises(RuntimeError), capture.exchange(routes, INVOCATIONS, "r3", "bo"):
            raise RuntimeError("a bug")
        await capture.flush()
        return sink.records

    ok, refused, broken = asyncio.run(scenario())
    assert ok == {
        "request_id": "r1",
        "client_request_id": "c1",
        "endpoint_id": ok["endpoint_id"],
        "endpoint_name": ok["endpoint_name"],
        "served_model_name": "a",
        "model_name": "churn",
        "model_version": "3",
        "timestamp_ms": ok["timestamp_ms"],
        "status_code": 200,
        "execution_time_ms": ok["execution_time_ms"],
        "requester": "ana",
        "request": '{"inputs":[1],"client_request_id":"c1"}',
        "response": '{"predictions": [1]}',
    }
    assert ok["endpoint_name"].startswith("shop-") and ok["execution_time_ms"] >= 0
    assert refused["status_code"] == 400 and refused["served_model_name"] is None
    assert orjson.loads(refused["response"] or "") == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "limit must be positive.",
    }
    assert (broken["status_code"], broken["response"]) == (500, None)


def test_a_full_queue_drops_and_counts_and_close_writes_the_rest() -> None:
    routes = endpoint()

    async def scenario() -> Sink:
        sink = Sink()
        capture = InferenceCapture(sink, CaptureLimits(queue_records=4, flush_s=3600))
        capture.start()
        await asyncio.sleep(0)
        for i in range(10):
            answer(capture, routes, i)  # the writer has not run: four are kept
        assert capture.status(routes.id).message.endswith(
            "Records dropped since the gateway started: 6 because the queue was full."
        )
        await capture.close()
        return sink

    sink = asyncio.run(scenario())
    assert [r["request_id"] for r in sink.records] == ["r0", "r1", "r2", "r3"]
    dropped = sample("servegate_inference_records_dropped_total", routes.name, "queue_full")
    assert dropped == 6
    assert sample("servegate_inference_records_written_total", routes.name) == 4


def test_a_failing_sink_is_retried_then_given_up_and_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    routes = endpoint()

    async def scenario() -> tuple[Sink, list[str]]:
        sink = Sink()
        capture = InferenceCapture(sink, CaptureLimits())
        sink.failure = OSError(28, "No space left on device")
        statuses = []
        answer(capture, routes, 1)
        for _ in range(ATTEMPTS):
            await capture.flush()
            statuses.append(capture.status(routes.id).status)
        answer(capture, routes, 2)
        await capture.flush()  # r2's first attempt
        failing = capture.status(routes.id)
        assert "No space left on device" in failing.message
        assert "1 because writing failed" in failing.message
        sink.failure = None
        await capture.flush()
        statuses.append(capture.status(routes.id).status)
        return sink, statuses

    with caplog.at_level(logging.WARNING, "servegate.observability.inference_capture"):
        sink, statuses = asyncio.run(scenario())
    assert statuses == ["FAILING"] * ATTEMPTS + ["ACTIVE"], "it recovers by itself"
    assert [r["request_id"] for r in sink.records] == ["r2"], "r1 failed every attempt"
    assert sink.attempts == ATTEMPTS + 2
    assert sample("servegate_inference_records_dropped_total", routes.name, "write_failed") == 1
    assert sample("servegate_inference_write_errors_total", routes.name) == ATTEMPTS + 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "logged once, not per batch or request"
    assert "written again" in caplog.records[-1].getMessage()


def test_bodies_as_text() -> None:
    assert as_text(b'{"a": "\xc3\xa9"}') == '{"a": "é"}'
    binary = b"PAR1\x00\x01\xff"
    assert as_text(binary) == "base64:" + base64.b64encode(binary).decode()
    assert as_text(b"a,b\n\x00,1") == "base64:" + base64.b64encode(b"a,b\n\x00,1").decode()
    assert as_text(None) is None
    assert client_request_id(b'{"inputs": [1], "client_request_id": "x-1"}') == "x-1"
    assert client_request_id(b'{"client_request_id": 42}') == "42"
    assert client_request_id(b'{"inputs": [1]}') is None
    assert client_request_id(b"client_request_id,not json") is None
    assert client_request_id(b'[{"client_request_id": "x"}]') is None


def test_payloads_over_the_limit_are_kept_as_null() -> None:
    async def scenario() -> InferenceRecord:
        sink = Sink()
        capture = InferenceCapture(sink, CaptureLimits(max_payload_bytes=10))
        with capture.exchange(endpoint(), INVOCATIONS, "r1", "ana") as exchange:
            exchange.request = b"x" * 11
            exchange.answered(200, b"y" * 10)
        await capture.flush()
        return sink.records[0]

    record = asyncio.run(scenario())
    assert (record["request"], record["response"]) == (None, "y" * 10)
