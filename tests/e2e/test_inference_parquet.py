"""Inference tables as Parquet files (``SERVEGATE_INFERENCE_TABLES=parquet``), turned on
through the AI gateway; and the rules of both config forms."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pandas as pd
import pytest
import requests

from tests import models
from tests.disks import fill, small_disk
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.inference import (
    BASE,
    CAPTURE,
    Sent,
    assert_one_to_one,
    bad_body,
    good_body,
    metric,
    read_records,
    send,
    wait_for_status,
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp("inference-parquet")
    process = GatewayProcess(home, env={"SERVEGATE_INFERENCE_TABLES": "parquet"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def model(gateway: GatewayProcess) -> Registered:
    return register_into(gateway, lambda: models.register_sklearn("parquet-logreg"))


@pytest.fixture(scope="module")
def table_dir(gateway: GatewayProcess) -> Path:
    return gateway.home / "inference" / "pq"


def send_some(gateway: GatewayProcess, model: Registered, count: int, start: int) -> list[Sent]:
    return [
        send(gateway, "pq", bad_body(i) if i % 6 == 5 else good_body(model, i))
        for i in range(start, start + count)
    ]


def load(folder: Path) -> list[dict]:
    """The table as pandas loads it, records without probes (and without the ``date``
    column the folder names add)."""
    if not folder.exists():
        return []
    rows = pd.read_parquet(folder).drop(columns="date")
    rows = rows.astype(object).where(rows.notna(), None)
    return [r for r in rows.to_dict("records") if not r["request_id"].startswith("probe-")]


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """``folder`` and the folders in it refuse new files (for root too: chattr +i)."""
    folders = [folder, *(path for path in folder.rglob("*") if path.is_dir())]
    as_root = os.geteuid() == 0
    for path in folders:
        path.chmod(0o555)
        if as_root:
            subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        for path in folders:
            if as_root:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            path.chmod(0o755)


def capture_on(gateway: GatewayProcess, model: Registered) -> None:
    """Wait until the endpoint's requests are captured (the AI gateway change is published
    within the reconciler's next pass); probes are left out of the comparisons."""
    for probe in range(200):
        send(gateway, "pq", good_body(model, probe), request_id=f"probe-{probe}")
        if read_records(gateway, "pq", limit=1):
            return
    raise AssertionError("capture never began")


def test_parquet_files_load_into_pandas(
    gateway: GatewayProcess, model: Registered, table_dir: Path
) -> None:
    gateway.create("pq", [model.entity("m")])
    settings = {"inference_table_config": {"catalog_name": "lake", "schema_name": "serving"}}
    put = gateway.api("PUT", f"{BASE}/pq/ai-gateway", json=settings)
    assert put.status_code == 200, put.text
    assert put.json()["inference_table_config"] == {
        "catalog_name": "lake",
        "schema_name": "serving",
        "table_name_prefix": "pq",
        "enabled": True,
    }
    capture_on(gateway, model)

    sent = send_some(gateway, model, 30, start=0)
    served = {"m": ("parquet-logreg", model.version), None: (None, None)}
    deadline = time.monotonic() + 60
    while len(on_disk := load(table_dir)) < len(sent):  # the writer's own flushes
        assert time.monotonic() < deadline, len(on_disk)
        time.sleep(0.2)
    records = read_records(gateway, "pq", limit=10_000)
    assert_one_to_one(on_disk, sent, served)
    from_api = [r for r in records if not r["request_id"].startswith("probe-")]
    key = "request_id"
    assert sorted(from_api, key=lambda r: r[key]) == sorted(on_disk, key=lambda r: r[key])
    assert {path.parent.name for path in table_dir.rglob("*.parquet")} == {
        f"date={pd.Timestamp(r['timestamp_ms'], unit='ms'):%Y-%m-%d}" for r in on_disk
    }
    table = wait_for_status(gateway, "pq", "ACTIVE")
    assert table["name"] == "lake.serving.pq_payload"
    assert "Parquet files under" in table["status_message"]


def test_an_unwritable_folder_keeps_serving_and_says_so(
    gateway: GatewayProcess, model: Registered, table_dir: Path
) -> None:
    before = len(load(table_dir))
    with unwritable(table_dir):
        failing_sent = send_some(gateway, model, 10, start=100)
        assert {s.status for s in failing_sent} <= {200, 400}
        failing = wait_for_status(gateway, "pq", "FAILING")
        assert "Parquet files" in failing["status_message"], failing
        assert metric(gateway, "servegate_inference_write_errors_total", endpoint="pq") >= 1
    later = send_some(gateway, model, 10, start=200)
    wait_for_status(gateway, "pq", "ACTIVE")
    written = read_records(gateway, "pq", limit=10_000)
    dropped = metric(
        gateway, "servegate_inference_records_dropped_total", endpoint="pq", reason="write_failed"
    )
    on_disk = load(table_dir)
    assert len(on_disk) + dropped == before + 20, "every request is written or counted as lost"
    assert {s.body.decode() for s in later} <= {r["request"] for r in on_disk}
    assert len(on_disk) == len([r for r in written if not r["request_id"].startswith("probe-")])


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


def test_a_full_disk_keeps_serving_and_says_so(tmp_path: Path, disk: Path) -> None:
    env = {"SERVEGATE_INFERENCE_TABLES": "parquet", "SERVEGATE_INFERENCE_DIR": str(disk)}
    gateway = GatewayProcess(tmp_path / "home", env=env).start()
    try:
        model = register_into(gateway, lambda: models.register_sklearn("full-disk-logreg"))
        config = {"served_entities": [model.entity("m")], "auto_capture_config": CAPTURE}
        assert gateway.api("POST", BASE, json={"name": "pq", "config": config}).ok
        gateway.wait_for("pq")
        before = send_some(gateway, model, 5, start=0)
        assert len(read_records(gateway, "pq", limit=100)) == len(before)

        filler = fill(disk)
        during = send_some(gateway, model, 10, start=10)
        assert {s.status for s in during} <= {200, 400}, "serving goes on"
        failing = wait_for_status(gateway, "pq", "FAILING")
        assert "No space left on device" in failing["status_message"], failing

        filler.unlink()
        after = send_some(gateway, model, 5, start=30)
        wait_for_status(gateway, "pq", "ACTIVE")
        written = read_records(gateway, "pq", limit=100)
        dropped = metric(
            gateway,
            "servegate_inference_records_dropped_total",
            endpoint="pq",
            reason="write_failed",
        )
        assert len(written) + dropped == len(before) + len(during) + len(after)
        assert {s.body.decode() for s in after} <= {r["request"] for r in written}
    finally:
        gateway.stop()


def error_of(answer) -> str:  # type: ignore[no-untyped-def]
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", answer.text
    return answer.json()["message"]


def test_bad_configs_are_refused(gateway: GatewayProcess, model: Registered) -> None:
    entities = [model.entity("m")]

    def create(**config: object) -> str:
        body = {"name": "refused", "config": {"served_entities": entities, **config}}
        return error_of(gateway.api("POST", BASE, json=body))

    assert "auto_capture_config.enabled" in create(
        auto_capture_config={**CAPTURE, "enabled": "yes"}
    )
    assert "auto_capture_config.catalog_name" in create(
        auto_capture_config={**CAPTURE, "catalog_name": 5}
    )
    assert "auto_capture_config" in create(auto_capture_config="on")
    assert "catalog_name is required" in create(auto_capture_config={"enabled": True})
    assert "'main.x' is invalid" in create(
        auto_capture_config={**CAPTURE, "catalog_name": "main.x"}
    )
    both = {
        "name": "refused",
        "config": {"served_entities": entities, "auto_capture_config": CAPTURE},
        "ai_gateway": {"inference_table_config": CAPTURE},
    }
    assert "cannot both be enabled" in error_of(gateway.api("POST", BASE, json=both))
    assert gateway.api("GET", f"{BASE}/refused").status_code == 404, "nothing was created"

    # An endpoint capturing through its config: names are fixed while enabled.
    created = gateway.api(
        "POST",
        BASE,
        json={
            "name": "rules",
            "config": {"served_entities": entities, "auto_capture_config": CAPTURE},
        },
    )
    assert created.status_code == 200, created.text
    gateway.wait_for("rules")
    moved = {"served_entities": entities, "auto_capture_config": {"catalog_name": "other"}}
    message = error_of(gateway.api("PUT", f"{BASE}/rules/config", json=moved))
    assert "auto_capture_config.catalog_name cannot change" in message
    on_gateway = {"inference_table_config": CAPTURE}
    message = error_of(gateway.api("PUT", f"{BASE}/rules/ai-gateway", json=on_gateway))
    assert "cannot both be enabled" in message

    # A new config without auto_capture_config keeps capturing.
    kept = gateway.api("PUT", f"{BASE}/rules/config", json={"served_entities": entities})
    assert kept.status_code == 200, kept.text
    shown = gateway.wait_for("rules")["config"]
    assert shown["config_version"] == 2
    assert shown["auto_capture_config"]["enabled"] is True
    assert shown["auto_capture_config"]["state"]["payload_table"]["status"] == "ACTIVE"

    # Disabled, it may move; the state says it is off.
    off = {"served_entities": entities, "auto_capture_config": {"enabled": False}}
    assert gateway.api("PUT", f"{BASE}/rules/config", json=off).status_code == 200
    table = gateway.wait_for("rules")["config"]["auto_capture_config"]
    assert table["enabled"] is False and table["catalog_name"] == "main"
    assert table["state"]["payload_table"]["status"] == "DISABLED"
    elsewhere = {"served_entities": entities, "auto_capture_config": {"catalog_name": "other"}}
    assert gateway.api("PUT", f"{BASE}/rules/config", json=elsewhere).status_code == 200
    table = gateway.wait_for("rules")["config"]["auto_capture_config"]
    assert table["enabled"] is True
    assert table["state"]["payload_table"]["name"] == "other.serving.rules_payload"

    # The AI gateway form: the same rules; a PUT without the table turns it off.
    renamed = {"inference_table_config": {"catalog_name": "lake", "schema_name": "elsewhere"}}
    message = error_of(gateway.api("PUT", f"{BASE}/pq/ai-gateway", json=renamed))
    assert "ai_gateway.inference_table_config.schema_name cannot change" in message
    bad_type = {"inference_table_config": {"enabled": 1}}
    assert "inference_table_config.enabled" in error_of(
        gateway.api("PUT", f"{BASE}/pq/ai-gateway", json=bad_type)
    )
    cleared = gateway.api("PUT", f"{BASE}/pq/ai-gateway", json={"rate_limits": []})
    assert cleared.status_code == 200, cleared.text
    assert "ai_gateway" not in gateway.api("GET", f"{BASE}/pq").json()


def test_open_inference_protocol_inferences_are_captured(
    gateway: GatewayProcess, model: Registered
) -> None:
    """``/v2/models/{endpoint}/infer`` is a request like any other; reading the model's
    metadata is not; an error is kept as the client got it, in the protocol's shape."""
    config = {"served_entities": [model.entity("m")], "auto_capture_config": CAPTURE}
    assert gateway.api("POST", BASE, json={"name": "tensors", "config": config}).ok
    gateway.wait_for("tensors")
    row = model.sample.iloc[0].tolist()
    tensor = {"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}
    body = orjson.dumps({"inputs": [tensor]})
    headers = {**gateway.headers, "Content-Type": "application/json"}
    url = f"{gateway.url}/v2/models/tensors"
    inferred = requests.post(f"{url}/infer", data=body, headers=headers, timeout=60)
    assert inferred.status_code == 200, inferred.text
    assert requests.get(url, headers=headers, timeout=60).status_code == 200
    missing = requests.post(f"{url}/versions/nope/infer", data=body, headers=headers, timeout=60)
    assert missing.status_code == 404 and "error" in missing.json()

    records = {r["status_code"]: r for r in read_records(gateway, "tensors", limit=100)}
    assert set(records) == {200, 404}, "the metadata read is not a record"
    assert records[200]["request"] == body.decode()
    assert records[200]["response"] == inferred.text
    assert records[200]["served_model_name"] == "m"
    assert records[200]["request_id"] == inferred.headers["x-request-id"]
    assert records[404]["response"] == missing.text
