"""The gateway's client for replicas, against real servers on a Unix socket and on 127.0.0.1:
keep-alive reuse, each way a replica can fail a request, and answers in every framing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from servegate.backends import clients
from servegate.backends.clients import (
    ReplicaClient,
    ReplicaDropped,
    ReplicaTimeout,
    ReplicaUnreachable,
)
from tests.ports import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _echo(request: Request) -> Response:
    body = await request.body()
    headers = {
        "x-seen-path": request.url.path,
        "x-seen-type": request.headers.get("content-type", ""),
        "x-seen-id": request.headers.get("x-request-id", ""),
        "retry-after": "7",
        "x-private": "not passed on",
    }
    return Response(body, status_code=201, headers=headers, media_type="application/x-echo")


async def _chunks(request: Request) -> Response:
    async def parts():  # type: ignore[no-untyped-def]
        for part in (b'{"predictions": ', b"[1, 2", b", 3]}"):
            yield part

    return StreamingResponse(parts(), media_type="application/json")


async def _slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "5")))
    return Response(b"late")


async def _ping(request: Request) -> Response:
    return Response(b"\n")


async def _load(request: Request) -> Response:
    return Response(b'{"inflight": 2, "slots": 4}', media_type="application/json")


APP = Starlette(
    routes=[
        Route("/invocations", _echo, methods=["POST"]),
        Route("/prefix/invocations", _echo, methods=["POST"]),
        Route("/chunks", _chunks, methods=["POST"]),
        Route("/slow", _slow, methods=["POST"]),
        Route("/ping", _ping, methods=["GET"]),
        Route("/load", _load, methods=["GET"]),
    ]
)


@contextlib.asynccontextmanager
async def _uvicorn(**where: Any) -> AsyncIterator[uvicorn.Server]:
    """The test app served by uvicorn (as replicas are) at ``where`` (uds=, or host= port=)."""
    server = uvicorn.Server(uvicorn.Config(APP, log_level="warning", lifespan="off", **where))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def _client(address: str) -> AsyncIterator[ReplicaClient]:
    client = ReplicaClient(address)
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def _raw(handler: Handler, path: Path) -> AsyncIterator[ReplicaClient]:
    """A client of a hand-made server at ``path`` that answers as ``handler`` writes."""
    server = await asyncio.start_unix_server(handler, str(path))
    try:
        async with _client(f"unix:{path}") as client:
            yield client
    finally:
        server.close()


def test_requests_share_one_kept_alive_connection_over_a_unix_socket(tmp_path: Path) -> None:
    sock = tmp_path / "replica.sock"

    async def scenario() -> None:
        async with _uvicorn(uds=str(sock)) as server, _client(f"unix:{sock}") as client:
            answers = []
            for index in range(20):
                body = f'{{"n": {index}}}'.encode()
                headers = {"content-type": "application/json", "x-request-id": f"r{index}"}
                answers.append(await client.post("/invocations", body, headers, 5))
            assert [a.body for a in answers] == [f'{{"n": {i}}}'.encode() for i in range(20)]
            assert {a.status for a in answers} == {201}
            assert answers[0].content_type == "application/x-echo"
            assert answers[3].headers == {"retry-after": "7"}  # only the headers passed on
            assert len(server.server_state.connections) == 1
            assert server.server_state.total_requests == 20

    asyncio.run(scenario())


def test_concurrent_requests_each_get_their_own_answer(tmp_path: Path) -> None:
    sock = tmp_path / "replica.sock"

    async def scenario() -> None:
        async with _uvicorn(uds=str(sock)) as server, _client(f"unix:{sock}") as client:
            bodies = [f"body {i}".encode() * (i + 1) * 1000 for i in range(16)]
            answers = await asyncio.gather(
                *(client.post("/invocations", body, {}, 5) for body in bodies)
            )
            assert [a.body for a in answers] == bodies
            again = await client.post("/invocations", b"again", {}, 5)
            assert again.body == b"again"
            assert len(server.server_state.connections) <= 16  # the pool was reused

    asyncio.run(scenario())


def test_chunked_answers_path_prefixes_ping_and_load_over_tcp() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async def scenario() -> None:
        async with (
            _uvicorn(host="127.0.0.1", port=port),
            _client(base) as client,
            _client(f"{base}/prefix/") as prefixed,
        ):
            chunked = await client.post("/chunks", b"{}", {}, 5)
            assert chunked.body == b'{"predictions": [1, 2, 3]}'
            seen = await prefixed.post("/invocations", b"x", {"content-type": "text/csv"}, 5)
            assert seen.status == 201 and seen.body == b"x"
            assert await client.ping()
            assert await client.load() == {"inflight": 2, "slots": 4}

    asyncio.run(scenario())


def test_nothing_listening_is_unreachable_and_gone(tmp_path: Path) -> None:
    port = free_port()

    async def scenario() -> None:
        for address in (f"unix:{tmp_path / 'none.sock'}", f"http://127.0.0.1:{port}"):
            async with _client(address) as client:
                with pytest.raises(ReplicaUnreachable):
                    await client.post("/invocations", b"{}", {}, 5)
                assert not await client.ping()
                assert await client.load() is None
                assert await client.gone()

    asyncio.run(scenario())


def test_a_replica_that_hangs_up_mid_request_dropped_it(tmp_path: Path) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        async with _raw(hang_up, tmp_path / "dying.sock") as client:
            with pytest.raises(ReplicaDropped):
                await client.post("/invocations", b"{}", {}, 5)
            assert not await client.gone()  # something still listens: not a dead replica

    asyncio.run(scenario())


def test_an_answer_that_is_not_http_is_dropped(tmp_path: Path) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    async def scenario() -> None:
        async with _raw(garbage, tmp_path / "garbage.sock") as client:
            with pytest.raises(ReplicaDropped, match="not HTTP"):
                await client.post("/invocations", b"{}", {}, 5)

    asyncio.run(scenario())


def test_a_slow_answer_times_out_and_its_connection_is_not_reused(tmp_path: Path) -> None:
    sock = tmp_path / "replica.sock"

    async def scenario() -> None:
        async with _uvicorn(uds=str(sock)), _client(f"unix:{sock}") as client:
            with pytest.raises(ReplicaTimeout):
                await client.post("/slow?s=3", b"", {}, 0.3)
            # The late answer must never be taken for the next request's.
            answer = await client.post("/invocations", b"next", {}, 5)
            assert answer.body == b"next"
            await asyncio.sleep(3.2)
            answer = await client.post("/invocations", b"after", {}, 5)
            assert answer.body == b"after"

    asyncio.run(scenario())


def test_connection_close_answers_and_idle_connections_are_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections = 0

    async def one_answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            close = connections == 1
            framing = b"Connection: close\r\n" if close else b""
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + framing + b"\r\nok")
            await writer.drain()
            if close:
                break
        writer.close()

    async def scenario() -> None:
        async with _raw(one_answer_each, tmp_path / "closing.sock") as client:
            for _ in range(3):
                assert (await client.post("/invocations", b"", {}, 5)).body == b"ok"
            assert connections == 2  # the first said close; the second carried two
            monkeypatch.setattr(clients, "IDLE_REUSE_S", 0.1)
            await asyncio.sleep(0.2)
            assert (await client.post("/invocations", b"", {}, 5)).body == b"ok"
            assert connections == 3  # idle too long: not reused

    asyncio.run(scenario())
