"""Replica logs: rotated with nothing lost, read and followed through the API and the CLI;
request ids accepted or made up, echoed, and on every log line about the request; JSON logs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import special_models
from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import interrupt

BASE = "/api/2.0/serving-endpoints"
REQUESTS = 240


@pytest.fixture(scope="module")
def chatty_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(
        tmp_path_factory.mktemp("logs") / "home",
        env={"SERVEGATE_LOG_MAX_BYTES": "4096", "SERVEGATE_LOG_BACKUPS": "200"},
        args=["--log-format", "json", "--access-log"],
    ).start()
    model = register_into(gateway, lambda: special_models.register_chatty("chatty"))
    gateway.create("chatty", [model.entity("m")])
    yield gateway
    gateway.stop()


def query(gateway: GatewayProcess, x: int, request_id: str | None) -> dict:
    headers = dict(gateway.headers)
    if request_id is not None:
        headers["x-request-id"] = request_id
    answer = gateway.api(
        "POST",
        "/serving-endpoints/chatty/invocations",
        json={"dataframe_records": [{"x": x}]},
        headers=headers,
    )
    return {"status": answer.status_code, "id": answer.headers.get("x-request-id")}


def replica_logs(gateway: GatewayProcess) -> list[Path]:
    """The served model's log and its rotated copies, oldest first."""
    folder = gateway.home / "logs" / "endpoints" / "chatty"
    rotated = sorted(folder.glob("m.log.*"), key=lambda p: -int(p.suffix[1:]))
    current = folder / "m.log"  # missing for a moment after a rotation
    return [*rotated, current] if current.exists() else rotated


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_logs_rotate_without_losing_a_line_and_follow_across_rotations(
    chatty_gateway: GatewayProcess,
) -> None:
    gateway = chatty_gateway
    followed_path = gateway.home / "followed.txt"
    follower = subprocess.Popen(
        [sys.executable, "-m", "servegate", "logs", "chatty", "m", "--follow"]
        + ["--url", gateway.url, "--token", gateway.token],
        stdout=followed_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while "row 9999" not in followed_path.read_text():  # the follower is streaming
            assert time.monotonic() < deadline, "the follower never showed a line"
            query(gateway, 9999, "req-first")
            time.sleep(0.5)
        for x in range(REQUESTS):  # spread over a few rotation checks
            assert query(gateway, x, f"req-{x}") == {"status": 200, "id": f"req-{x}"}
            time.sleep(0.03)
        while not re.search(rf"^row {REQUESTS - 1}$", followed_path.read_text(), re.M):
            assert time.monotonic() < deadline + 120, "the follower stopped"
            time.sleep(0.5)
    finally:
        interrupt(follower, 30)
    followed = followed_path.read_text()

    files = replica_logs(gateway)
    assert len(files) >= 3, f"the log rotated: {[f.name for f in files]}"
    assert all(f.stat().st_size < 64 * 1024 for f in files), "each file stays near the limit"
    written = "".join(f.read_text() for f in files)
    rows = [int(row) for row in re.findall(r"^row (\d+)$", written, re.M) if row != "9999"]
    assert sorted(rows) == list(range(REQUESTS)), "every line once, none lost"
    followed_rows = set(map(int, re.findall(r"^row (\d+)$", followed, re.M)))
    assert followed_rows - {9999} == set(range(REQUESTS)), "the follower saw every line"

    access = [line for line in json_lines(written) if line["logger"] == "servegate.access"]
    by_id = {line["request_id"]: line for line in access}
    assert set(by_id) - {"req-first"} == {f"req-{x}" for x in range(REQUESTS)}
    assert {line["status"] for line in access} == {200}
    assert {line["path"] for line in access} == {"/invocations"}
    chatter = [line for line in json_lines(written) if line["logger"] == "chatty"]
    assert {line["request_id"] for line in chatter} == set(by_id), "the model's own lines too"

    tail = gateway.api("GET", f"{BASE}/chatty/served-models/m/logs").json()["logs"]
    assert f"row {REQUESTS - 1}" in tail


def test_request_ids_are_accepted_made_up_echoed_and_logged(
    chatty_gateway: GatewayProcess,
) -> None:
    gateway = chatty_gateway
    made_up = query(gateway, 1, None)
    assert made_up["status"] == 200 and re.fullmatch(r"[0-9a-f]{32}", made_up["id"])
    unsafe = query(gateway, 2, "has spaces\tand tabs")
    assert unsafe["status"] == 200 and re.fullmatch(r"[0-9a-f]{32}", unsafe["id"])
    missing = gateway.api(
        "POST",
        "/serving-endpoints/no-such-endpoint/invocations",
        json={"dataframe_records": [{"x": 1}]},
        headers={**gateway.headers, "x-request-id": "lost-1"},
    )
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "lost-1"

    failed = query(gateway, -1, "req-fails")
    assert failed == {"status": 400, "id": "req-fails"}
    deadline = time.monotonic() + 10
    while True:
        lines = json_lines("".join(f.read_text() for f in replica_logs(gateway)))
        about = [line for line in lines if line.get("request_id") == "req-fails"]
        if len(about) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    failure = next(line for line in about if line["logger"] == "servegate.replica.model")
    assert failure["level"] == "WARNING" and "RuntimeError: negative x" in failure["exc_info"]
    assert any(line["logger"] == "servegate.access" and line["status"] == 400 for line in about)

    gateway_lines = json_lines(gateway.log_path.read_text())
    mine = [line for line in gateway_lines if line.get("request_id") == made_up["id"]]
    assert [(line["logger"], line["status"], line["caller"]) for line in mine] == [
        ("servegate.access", 200, "admin")
    ]


def test_build_logs_and_bad_parameters(chatty_gateway: GatewayProcess) -> None:
    build = gateway_log(chatty_gateway, "build-logs")
    for step in ("starting replica for", "downloaded artifacts", "loaded model", "serving on"):
        assert step in build, step
    assert re.search(r"loaded model .* in \d+\.\d\ds", build), "steps carry their timings"
    bad = chatty_gateway.api("GET", f"{BASE}/chatty/served-models/m/logs?follow=maybe")
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    unknown = chatty_gateway.api("GET", f"{BASE}/chatty/served-models/nope/logs?follow=true")
    assert unknown.status_code == 404


def gateway_log(gateway: GatewayProcess, kind: str) -> str:
    answer = gateway.api("GET", f"{BASE}/chatty/served-models/m/{kind}")
    assert answer.status_code == 200, answer.text
    return answer.json()["logs"]
