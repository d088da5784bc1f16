"""Inference tables lose nothing on a graceful stop, and never slow serving when the writer
cannot keep up: a full queue drops records and counts them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from tests import models
from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.inference import (
    BASE,
    CAPTURE,
    bad_body,
    good_body,
    metric,
    read_records,
    send,
    wait_for_records,
)
from tests.postgres import fresh_postgres_database


def capturing_gateway(home: Path, store: str | None, workers: int, env: dict) -> GatewayProcess:
    args = ["--workers", str(workers)] + (["--store", store] if store else [])
    return GatewayProcess(home, args=args, env=env).start()


@pytest.mark.parametrize(("store", "workers"), [("sqlite", 1), ("postgresql", 2)])
def test_graceful_restart_writes_every_record(tmp_path: Path, store: str, workers: int) -> None:
    """Requests answered, then SIGTERM at once: every one of them is in the table after the
    restart. The writer flushes only once a minute here, so all of them are still queued
    when the signal comes (with two workers, spread over both)."""
    env = {"SERVEGATE_INFERENCE_FLUSH_S": "60"}
    database = fresh_postgres_database() if store == "postgresql" else contextlib.nullcontext()
    with database as url:  # None: SQLite in the home
        gateway = capturing_gateway(tmp_path, url, workers, env)
        try:
            model = register_into(gateway, lambda: models.register_sklearn("restart-logreg"))
            config = {"served_entities": [model.entity("m")], "auto_capture_config": CAPTURE}
            created = gateway.api("POST", BASE, json={"name": "restarted", "config": config})
            assert created.status_code == 200, created.text
            gateway.wait_for("restarted")
            sent = [
                send(
                    gateway,
                    "restarted",
                    bad_body(i) if i % 7 == 3 else good_body(model, i),
                    request_id=f"restart-{i}",
                    close=True,
                )
                for i in range(60)
            ]
            assert {s.status for s in sent} == {200, 400}
            gateway.stop()
            gateway.start()
            records = read_records(gateway, "restarted", limit=10_000)
            assert sorted(r["request_id"] for r in records) == sorted(s.request_id for s in sent)
            by_id = {r["request_id"]: r for r in records}
            for request in sent:
                record = by_id[request.request_id]
                assert record["request"] == request.body.decode()
                assert (record["status_code"], record["response"]) == (
                    request.status,
                    request.response,
                )
        finally:
            gateway.stop()


@pytest.fixture
def stalled(tmp_path: Path) -> Iterator[tuple[GatewayProcess, str]]:
    """A gateway on PostgreSQL whose inference queue holds five records."""
    with fresh_postgres_database() as url:
        gateway = capturing_gateway(tmp_path, url, 1, {"SERVEGATE_INFERENCE_QUEUE_SIZE": "5"})
        try:
            yield gateway, url
        finally:
            gateway.stop()


def test_a_stalled_writer_drops_and_counts_while_serving(
    stalled: tuple[GatewayProcess, str],
) -> None:
    """The table is locked, so the writer waits: requests keep succeeding, the queue keeps
    five records and drops the others, counting each; once the lock goes, what was kept is
    written, and kept + dropped is what was sent."""
    gateway, url = stalled
    model = register_into(gateway, lambda: models.register_sklearn("stalled-logreg"))
    config = {"served_entities": [model.entity("m")], "auto_capture_config": CAPTURE}
    created = gateway.api("POST", BASE, json={"name": "stalled", "config": config})
    assert created.status_code == 200, created.text
    gateway.wait_for("stalled")

    engine = sqlalchemy.create_engine(url)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("LOCK TABLE inference_records IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(120)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(30)
        sent = [send(gateway, "stalled", good_body(model, i)) for i in range(30)]
        assert [s.status for s in sent] == [200] * 30, "serving goes on"
        dropped = metric(
            gateway,
            "servegate_inference_records_dropped_total",
            endpoint="stalled",
            reason="queue_full",
        )
        assert dropped >= 25, dropped
        shown = gateway.api("GET", f"{BASE}/stalled").json()["config"]["auto_capture_config"]
        message = shown["state"]["payload_table"]["status_message"]
        assert "because the queue was full" in message, message
    finally:
        release.set()
        holder.join()
        engine.dispose()
    kept = len(sent) - int(dropped)
    records = wait_for_records(gateway, "stalled", kept)
    assert len(records) == kept
    assert len(read_records(gateway, "stalled", limit=10_000)) == kept, "and no more"
    assert {r["request"] for r in records} <= {s.body.decode() for s in sent}
