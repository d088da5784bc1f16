"""The gateway's client for replicas, against real servers on a Unix socket and on 127.0.0.1:
keep-alive reuse, each way a replica can fail a request, and answers in every framing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

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


async def _served(config: uvicorn.Config) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task


async def _stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await task


def test_requests_share_one_kept_alive_connection_over_a_unix_socket(tmp_path: Path) -> None:
    socket_path = tmp_path / "replica.sock"

    async def scenario() -> None:
        config = uvicorn.Config(APP, uds=str(socket_path), log_level="warning", lifespan="off")
        server, task = await _served(config)
        client = ReplicaClient(f"unix:{socket_path}")
        try:
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
        finally:
            await client.close()
            await _stop(server, task)

    asyncio.run(scenario())


def test_concurrent_requests_each_get_their_own_answer(tmp_path: Path) -> None:
    socket_path = tmp_path / "replica.sock"

    async def scenario() -> None:
        config = uvicorn.Config(APP, uds=str(socket_path), log_level="warning", lifespan="off")
        server, task = await _served(config)
        client = ReplicaClient(f"unix:{socket_path}")
        try:
            bodies = [f"body {i}".encode() * (i + 1) * 1000 for i in range(16)]
            answers = await asyncio.gather(
                *(client.post("/invocations", body, {}, 5) for body in bodies)
            )
            assert [a.body for a in answers] == bodies
            again = await client.post("/invocations", b"again", {}, 5)
            assert again.body == b"again"
            assert len(server.server_state.connections) <= 16  # the pool was reused
        finally:
            await client.close()
            await _stop(server, task)

    asyncio.run(scenario())


def test_chunked_answers_path_prefixes_ping_and_load_over_tcp() -> None:
    unused_port = free_port()

    async def scenario() -> None:
        config = uvicorn.Config(
            APP, host="127.0.0.1", port=unused_port, log_level="warning", lifespan="off"
        )
        server, task = await _served(config)
        client = ReplicaClient(f"http://127.0.0.1:{unused_port}")
        prefixed = ReplicaClient(f"http://127.0.0.1:{unused_port}/prefix/")
        try:
            chunked = await client.post("/chunks", b"{}", {}, 5)
            assert chunked.body == b'{"predictions": [1, 2, 3]}'
            seen = await prefixed.post("/invocations", b"x", {"content-type": "text/csv"}, 5)
            assert seen.status == 201 and seen.body == b"x"
            assert await client.ping()
            assert await client.load() == {"inflight": 2, "slots": 4}
        finally:
            await client.close()
            await prefixed.close()
            await _stop(server, task)

    asyncio.run(scenario())


def test_nothing_listening_is_unreachable_and_gone(tmp_path: Path) -> None:
    unused_port = free_port()

    async def scenario() -> None:
        for address in (f"unix:{tmp_path / 'none.sock'}", f"http://127.0.0.1:{unused_port}"):
            client = ReplicaClient(address)
            with pytest.raises(ReplicaUnreachable):
                await client.post("/invocations", b"{}", {}, 5)
            assert not await client.ping()
            assert await client.load() is None
            assert await client.gone()

    asyncio.run(scenario())


async def _raw_server(handler: Handler, path: Path) -> asyncio.AbstractServer:
    return await asyncio.start_unix_server(handler, str(path))


def test_a_replica_that_hangs_up_mid_request_dropped_it(tmp_path: Path) -> None:
    socket_path = tmp_path / "dying.sock"

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    async def scenario() -> None:
        server = await _raw_server(hang_up, socket_path)
        client = ReplicaClient(f"unix:{socket_path}")
        try:
            with pytest.raises(ReplicaDropped):
                await client.post("/invocations", b"{}", {}, 5)
            assert not await client.gone()  # something still listens: not a dead replica
        finally:
            server.close()
            await client.close()

    asyncio.run(scenario())


def test_an_answer_that_is_not_http_is_dropped(tmp_path: Path) -> None:
    socket_path = tmp_path / "garbage.sock"

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    async def scenario() -> None:
        server = await _raw_server(garbage, socket_path)
        client = ReplicaClient(f"unix:{socket_path}")
        try:
            with pytest.raises(ReplicaDropped, match="not HTTP"):
                await client.post("/invocations", b"{}", {}, 5)
        finally:
            server.close()
            await client.close()

    asyncio.run(scenario())


def test_a_slow_answer_times_out_and_its_connection_is_not_reused(tmp_path: Path) -> None:
    socket_path = tmp_path / "replica.sock"

    async def scenario() -> None:
        config = uvicorn.Config(APP, uds=str(socket_path), log_level="warning", lifespan="off")
        server, task = await _served(config)
        client = ReplicaClient(f"unix:{socket_path}")
        try:
            with pytest.raises(ReplicaTimeout):
                await client.post("/slow?s=3", b"", {}, 0.3)
            # The late answer must never be taken for the next request's.
            answer = await client.post("/invocations", b"next", {}, 5)
            assert answer.body == b"next"
            await asyncio.sleep(3.2)
            answer = await client.post("/invocations", b"after", {}, 5)
            assert answer.body == b"after"
        finally:
            await client.close()
            await _stop(server, task)

    asyncio.run(scenario())


def test_connection_close_answers_and_idle_connections_are_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket_path = tmp_path / "closing.sock"
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
        server = await _raw_server(one_answer_each, socket_path)
        client = ReplicaClient(f"unix:{socket_path}")
        try:
            for _ in range(3):
                assert (await client.post("/invocations", b"", {}, 5)).body == b"ok"
            assert connections == 2  # the first said close; the second carried two
            monkeypatch.setattr(clients, "IDLE_REUSE_S", 0.1)
            await asyncio.sleep(0.2)
            assert (await client.post("/invocations", b"", {}, 5)).body == b"ok"
            assert connections == 3  # idle too long: not reused
        finally:
            server.close()
            await client.close()

    asyncio.run(scenario())
