"""Slow and abusive clients: bounded resources, timeouts, and serving goes on for the others.

The gateway runs with a 2 s limit for a request's head and for its body (defaults: 10 s and
60 s). Hundreds of connections that never send a byte, heads sent a byte at a time, bodies
that never finish, and oversized heads all come at once while a well-behaved client queries
an endpoint; then every abusive connection must have been closed by the gateway, and its
open files must be back where they were.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess

IDLE_CONNECTIONS = 300
SLOW_CLIENTS = 20
TIMEOUT_S = 2


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = {
        "SERVEGATE_REQUEST_HEAD_TIMEOUT_S": str(TIMEOUT_S),
        "SERVEGATE_REQUEST_BODY_TIMEOUT_S": str(TIMEOUT_S),
    }
    process = GatewayProcess(tmp_path_factory.mktemp("abused"), env=env).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def model(gateway: GatewayProcess) -> Registered:
    registered = register_into(gateway, lambda: models.register_sklearn("abused-logreg"))
    gateway.create("steady", [registered.entity("m")])
    return registered


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def connect(gateway: GatewayProcess) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
    return connection


def read_until_closed(connection: socket.socket, within: float) -> bytes:
    """Everything the gateway sends until it closes the connection (fails past ``within``)."""
    connection.settimeout(within)
    received = b""
    with contextlib.suppress(ConnectionResetError):  # closed with bytes of ours unread
        while chunk := connection.recv(65536):
            received += chunk
    return received


def dribble(connection: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Send ``data`` a byte every 0.2 s, until it is all sent, the gateway answers or ``stop``."""
    for byte in data:
        if stop.wait(0.2) or select.select([connection], [], [], 0)[0]:
            return  # a byte more after the gateway's answer would reset the connection
        try:
            connection.send(bytes([byte]))
        except OSError:
            return


def well_behaved_queries(gateway: GatewayProcess, model: Registered, count: int) -> list[int]:
    rows = json.loads(model.sample.head(1).to_json(orient="records"))
    with requests.Session() as session:
        return [
            session.post(
                f"{gateway.url}/serving-endpoints/steady/invocations",
                json={"dataframe_records": rows},
                headers=gateway.headers,
                timeout=30,
            ).status_code
            for _ in range(count)
        ]


def test_idle_and_slow_connections_are_cut_off_while_others_are_served(
    gateway: GatewayProcess, model: Registered
) -> None:
    assert gateway.process is not None
    well_behaved_queries(gateway, model, 5)  # warm: pooled connections to the replica exist
    baseline = open_files(gateway.process.pid)

    idle = [connect(gateway) for _ in range(IDLE_CONNECTIONS)]
    path = "/serving-endpoints/steady/invocations"
    slow_heads = [connect(gateway) for _ in range(SLOW_CLIENTS)]
    slow_bodies = [connect(gateway) for _ in range(SLOW_CLIENTS)]
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {gateway.token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    stop = threading.Event()
    dribblers = [
        threading.Thread(target=dribble, args=(c, head, stop), daemon=True) for c in slow_heads
    ]
    for connection in slow_bodies:
        connection.sendall(head + b'{"dataframe_records": [')  # and then nothing more
    for thread in dribblers:
        thread.start()
    # The gateway holds them (it accepts them as its loop gets to them, and may already cut
    # off the first before the last is accepted on a busy machine).
    held, deadline = 0, time.monotonic() + 10
    while held < baseline + IDLE_CONNECTIONS and time.monotonic() < deadline:
        held = max(held, open_files(gateway.process.pid))
        time.sleep(0.05)
    assert held >= baseline + IDLE_CONNECTIONS // 3, (held, baseline)

    try:
        statuses = well_behaved_queries(gateway, model, 50)  # while all of that holds on
        assert statuses == [200] * 50

        for connection in idle:  # closed without a word: nothing was asked
            assert read_until_closed(connection, within=TIMEOUT_S + 20) == b""
        for connection in slow_heads:  # part of a head came: told why
            answer = read_until_closed(connection, within=TIMEOUT_S + 20)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            error = json.loads(answer.partition(b"\r\n\r\n")[2])
            assert error["error_code"] == "BAD_REQUEST"
            assert "headers did not arrive within 2s" in error["message"]
        for connection in slow_bodies:
            answer = read_until_closed(connection, within=TIMEOUT_S + 20)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert (
                "body did not arrive within 2s"
                in json.loads(answer.partition(b"\r\n\r\n")[2])["message"]
            )
    finally:
        stop.set()
        for connection in idle + slow_heads + slow_bodies:
            connection.close()

    deadline = time.monotonic() + 30
    while open_files(gateway.process.pid) > baseline + 5:
        assert time.monotonic() < deadline, (open_files(gateway.process.pid), baseline)
        time.sleep(0.2)
    assert well_behaved_queries(gateway, model, 5) == [200] * 5
    assert gateway.process.poll() is None


def test_oversized_heads_and_garbage_get_an_error_not_a_crash(
    gateway: GatewayProcess, model: Registered
) -> None:
    assert gateway.process is not None
    huge_header = {**gateway.headers, "X-Padding": "x" * 200_000}
    refused = requests.get(f"{gateway.url}/api/2.0/serving-endpoints", headers=huge_header)
    assert refused.status_code == 431 and refused.json()["error_code"] == "BAD_REQUEST"

    long_url = f"{gateway.url}/serving-endpoints/{'x' * 200_000}/invocations"
    too_long = requests.post(long_url, headers=gateway.headers, json={}, timeout=30)
    assert too_long.status_code == 400, too_long.status_code
    assert too_long.json()["error_code"] == "BAD_REQUEST"
    assert "not valid HTTP/1.1" in too_long.json()["message"]

    for garbage in (b"\x00\xff" * 500, b"GET / HTTP/9.9\r\n\r\n", b"POST /x HTTP/1.1\r\n\r\n\r\n"):
        connection = connect(gateway)
        connection.sendall(garbage)
        answer = read_until_closed(connection, within=TIMEOUT_S + 20)
        connection.close()
        if answer:  # a 4xx in the API's error format (this one asks without a token: 401)
            assert answer.split(b" ")[1].startswith(b"4"), answer[:200]
            assert b'{"error_code":' in answer, answer[:300]

    many = [connect(gateway) for _ in range(50)]  # many at once, each asking nothing but /health
    for connection in many:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    for connection in many:
        assert read_until_closed(connection, within=30).startswith(b"HTTP/1.1 200 ")
        connection.close()
    assert well_behaved_queries(gateway, model, 3) == [200] * 3
    assert gateway.process.poll() is None


def test_unread_answers_do_not_hold_the_gateway(
    gateway: GatewayProcess, model: Registered, tmp_path: Path
) -> None:
    """Clients that ask and never read the answer: the gateway's memory stays bounded."""
    assert gateway.process is not None
    rows = json.loads(model.sample.head(500).to_json(orient="records"))
    body = json.dumps({"dataframe_records": rows}).encode()
    request = (
        f"POST /serving-endpoints/steady/invocations HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {gateway.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sinks = []
    for _ in range(20):
        connection = connect(gateway)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(20):  # pipelined, never read
            connection.sendall(request)
        sinks.append(connection)
    assert well_behaved_queries(gateway, model, 20) == [200] * 20
    for connection in sinks:
        connection.close()
    assert well_behaved_queries(gateway, model, 3) == [200] * 3
    assert gateway.process.poll() is None
