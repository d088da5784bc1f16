"""A response's head goes out with its body, in one write: against a real uvicorn server on
127.0.0.1 whose socket writes are recorded on their way out, and a raw client reading them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from servegate.one_write_responses import OneWriteHttpToolsProtocol
from tests.ports import free_port
from tests.uvicorn_servers import uvicorn_serving

BIG = b"x" * (200 * 1024)


async def _answer(request: Request) -> Response:
    return Response(await request.body() or b"hello", media_type="text/plain")


async def _big(request: Request) -> Response:
    return Response(BIG, media_type="application/octet-stream")


async def _streamed(request: Request) -> Response:
    async def parts():  # type: ignore[no-untyped-def]
        yield b"first "
        await asyncio.sleep(0.05)
        yield b"second"

    return StreamingResponse(parts(), media_type="text/plain")


async def _fails_after_the_head(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("broken after the head")


APP = Starlette(
    routes=[
        Route("/answer", _answer, methods=["GET", "POST", "HEAD"]),
        Route("/big", _big),
        Route("/streamed", _streamed),
    ]
)


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http" and scope["path"] == "/fails":
        await _fails_after_the_head(scope, receive, send)
    else:
        await APP(scope, receive, send)


class _Recorded:
    """The server's transport, its writes recorded as they go to the socket."""

    writes: list[bytes] = []

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _RecordingProtocol(OneWriteHttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Recorded(transport))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def _server() -> AsyncIterator[int]:
    port = free_port()
    # the failing app's traceback is expected: nothing logged below critical
    async with uvicorn_serving(
        _app, host="127.0.0.1", port=port, http=_RecordingProtocol, log_level="critical"
    ):
        yield port


async def _exchange(port: int, request: bytes, until: bytes | None = None) -> bytes:
    """Send ``request`` raw; read until ``until`` is seen, or the connection closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    received = b""
    try:
        while until is None or until not in received:
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            if not chunk:
                break
            received += chunk
    finally:
        writer.close()
    return received


def _writes(scenario: Any) -> list[bytes]:
    _Recorded.writes = []
    asyncio.run(scenario())
    return _Recorded.writes


def test_an_answer_is_one_write_of_its_head_and_body() -> None:
    async def scenario() -> None:
        async with _server() as port:
            body = b'{"inputs": [1]}'
            head = (
                b"POST /answer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)
            )
            received = await _exchange(port, head + body)
            assert received.startswith(b"HTTP/1.1 200 OK\r\n")
            assert received.endswith(b"\r\n\r\n" + body)

    writes = _writes(scenario)
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b'{"inputs": [1]}')


def test_keep_alive_answers_each_go_in_one_write() -> None:
    async def scenario() -> None:
        async with _server() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for n in range(3):
                body = b"request %d" % n
                writer.write(
                    b"POST /answer HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
                    + body
                )
                received = b""
                while not received.endswith(body):
                    received += await asyncio.wait_for(reader.read(65536), 5)
            writer.close()

    writes = _writes(scenario)
    assert [write.endswith(b"request %d" % n) for n, write in enumerate(writes)] == [True] * 3


def test_a_100_continue_goes_out_before_the_body_is_sent() -> None:
    async def scenario() -> None:
        async with _server() as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /answer HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
            )
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"body")
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"body")
            writer.close()

    writes = _writes(scenario)
    assert writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(writes) == 2


def test_a_head_request_is_answered_with_its_head_alone() -> None:
    async def scenario() -> None:
        async with _server() as port:
            request = b"HEAD /answer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            received = await _exchange(port, request)
            assert received.startswith(b"HTTP/1.1 200 OK\r\n")
            assert received.endswith(b"\r\n\r\n")

    assert len(_writes(scenario)) == 1


def test_a_streamed_answer_sends_its_head_with_the_first_chunk_and_the_rest_as_they_come() -> None:
    async def scenario() -> None:
        async with _server() as port:
            request = b"GET /streamed HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            received = await _exchange(port, request)
            assert b"first " in received and b"second" in received

    writes = _writes(scenario)
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"first \r\n")
    assert any(b"second" in write for write in writes[1:])


def test_a_large_body_is_written_after_its_head_not_copied_onto_it() -> None:
    async def scenario() -> None:
        async with _server() as port:
            request = b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            received = await _exchange(port, request)
            assert received.endswith(b"\r\n\r\n" + BIG)

    writes = _writes(scenario)
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\n")
    assert writes[1] == BIG


def test_a_head_held_when_the_app_fails_goes_out_before_the_connection_closes() -> None:
    async def scenario() -> None:
        async with _server() as port:
            request = b"GET /fails HTTP/1.1\r\nHost: t\r\n\r\n"
            received = await _exchange(port, request)
            assert received.startswith(b"HTTP/1.1 200 OK\r\n")

    _writes(scenario)
