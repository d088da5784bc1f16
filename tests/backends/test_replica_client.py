"""The gateway's client for replicas, against real servers on a Unix socket and on 127.0.0.1:
keep-alive reuse, each way a replica can fail a request, answers in every framing, and the
bundles requests held at once go in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from servegate import invocation_bundles as bundles
from servegate.backends import clients
from servegate.backends.clients import (
    ReplicaAnswer,
    ReplicaClient,
    ReplicaDropped,
    ReplicaTimeout,
    ReplicaUnreachable,
)
from servegate.replica.bundled_invocations import BundledInvocations
from tests.ports import free_port
from tests.uvicorn_servers import uvicorn_serving

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


async def _seen(request: Request) -> Response:
    await asyncio.sleep(float(request.headers.get("x-sleep", "0")))
    seen = {
        "body": (await request.body()).decode(),
        "type": request.headers.get("content-type", ""),
        "id": request.headers.get("x-request-id", ""),
    }
    return JSONResponse(seen, status_code=201, headers={"retry-after": "7", "x-private": "no"})


class _Bundling:
    """A replica's ``/invocations`` (answering with what it saw) and its bundles, counting
    the requests to each and the requests in each bundle."""

    def __init__(self) -> None:
        self.app = Starlette(routes=[Route("/invocations", _seen, methods=["POST"])])
        self.bundle_sizes: list[int] = []  # requests in each bundle, in order
        self.bundled = BundledInvocations(self.app, self.bundle_sizes.append)
        self.requests = {"/invocations": 0, bundles.PATH: 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests[scope["path"]] += 1
            if scope["path"] == bundles.PATH:
                await self.bundled(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _uvicorn(app: ASGIApp = APP, **where: Any) -> contextlib.AbstractAsyncContextManager[Any]:
    """An app served by uvicorn (as replicas are) at ``where`` (uds=, or host= port=)."""
    return uvicorn_serving(app, **where)


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


def test_requests_held_at_once_go_in_bundles_and_each_gets_its_own_answer(
    tmp_path: Path,
) -> None:
    sock, replica = tmp_path / "replica.sock", _Bundling()

    async def scenario() -> None:
        async with _uvicorn(replica, uds=str(sock)), _client(f"unix:{sock}") as client:
            count = bundles.MAX_REQUESTS + 6
            held = [
                client.post(
                    "/invocations",
                    b"%d" % i,
                    {"content-type": f"t/{i}", "x-request-id": f"r{i}"},
                    5,
                )
                for i in range(count)
            ]
            big = b"x" * (bundles.MAX_BODY_BYTES + 1)
            answers = await asyncio.gather(*held, client.post("/invocations", big, {}, 5))
            seen = [orjson.loads(answer.body) for answer in answers]
            assert seen[:count] == [
                {"body": f"{i}", "type": f"t/{i}", "id": f"r{i}"} for i in range(count)
            ]
            assert seen[count]["body"] == big.decode()
            assert {answer.status for answer in answers} == {201}
            assert answers[5].headers == {"retry-after": "7"}  # only the headers passed on
            assert answers[5].content_type == "application/json"
            # The first went at once (none unanswered, no company met before), the rest in
            # bundles, each sent as it filled; the big body went alone.
            full = clients.BUNDLE_SENT_AT
            assert replica.bundle_sizes == [full] * 4 + [count - 1 - 4 * full]
            assert replica.requests == {bundles.PATH: 5, "/invocations": 2}

            # Held together again, with none unanswered: the last to wait met company, so the
            # first waits too, and all go in one bundle.
            again = [client.post("/invocations", b"again %d" % i, {}, 5) for i in range(10)]
            answers = await asyncio.gather(*again)
            assert [orjson.loads(answer.body)["body"] for answer in answers] == [
                f"again {i}" for i in range(10)
            ]
            assert replica.requests == {bundles.PATH: 6, "/invocations": 2}

            # Ten were unanswered when that turn ended: the next ten go as two bundles of
            # five, the first as soon as it holds five.
            again = [client.post("/invocations", b"halves %d" % i, {}, 5) for i in range(10)]
            answers = await asyncio.gather(*again)
            assert [orjson.loads(answer.body)["body"] for answer in answers] == [
                f"halves {i}" for i in range(10)
            ]
            assert replica.bundle_sizes[-3:] == [10, 5, 5]
            assert replica.requests == {bundles.PATH: 8, "/invocations": 2}

            lone = await client.post("/invocations", b"lone", {}, 5)
            assert orjson.loads(lone.body)["body"] == "lone"
            assert replica.requests == {bundles.PATH: 8, "/invocations": 3}

    asyncio.run(scenario())


def test_a_server_without_bundles_is_sent_each_request_alone_from_then_on(
    tmp_path: Path,
) -> None:
    sock = tmp_path / "replica.sock"

    async def scenario() -> None:
        async with _uvicorn(uds=str(sock)) as server, _client(f"unix:{sock}") as client:
            for round_ in range(2):
                bodies = [b"round %d, body %d" % (round_, i) for i in range(10)]
                answers = await asyncio.gather(
                    *(client.post("/invocations", body, {}, 5) for body in bodies)
                )
                assert [answer.body for answer in answers] == bodies
                assert {answer.status for answer in answers} == {201}
            # one bundle (404), then every request alone
            assert server.server_state.total_requests == 1 + 20

    asyncio.run(scenario())


def test_each_answer_of_a_bundle_comes_as_soon_as_it_is_ready(tmp_path: Path) -> None:
    sock, replica = tmp_path / "replica.sock", _Bundling()

    async def scenario() -> None:
        async with _uvicorn(replica, uds=str(sock)), _client(f"unix:{sock}") as client:
            first = asyncio.create_task(client.post("/invocations", b"first", {}, 5))
            slow = asyncio.create_task(client.post("/invocations", b"slow", {"x-sleep": "2"}, 5))
            quick = asyncio.create_task(client.post("/invocations", b"quick", {}, 5))
            done, _ = await asyncio.wait({slow, quick}, return_when=asyncio.FIRST_COMPLETED)
            assert done == {quick} and not slow.done()
            assert orjson.loads(quick.result().body)["body"] == "quick"
            assert orjson.loads((await slow).body)["body"] == "slow"
            assert orjson.loads((await first).body)["body"] == "first"
            # the first went alone (none other unanswered), the two after it together
            assert replica.requests == {bundles.PATH: 1, "/invocations": 1}

    asyncio.run(scenario())


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(2)
    writer.close()


async def _not_a_bundle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {bundles.CONTENT_TYPE}\r\nContent-Length: 3\r\n"
    writer.write(head.encode() + b"\r\n\xc1\xc1\xc1")
    await writer.drain()
    await asyncio.sleep(1)
    writer.close()


@pytest.mark.parametrize(
    ("handler", "alone", "failure"),
    [
        (_hang_up, ReplicaDropped, ReplicaDropped),
        (_silent, ReplicaTimeout, ReplicaTimeout),
        (_not_a_bundle, ReplicaAnswer, ReplicaDropped),  # alone, it is just an answer
    ],
    ids=["hangs-up", "silent", "not-a-bundle"],
)
def test_a_bundle_that_fails_fails_each_of_its_requests(
    tmp_path: Path, handler: Handler, alone: type, failure: type[Exception]
) -> None:
    async def scenario() -> None:
        async with _raw(handler, tmp_path / "failing.sock") as client:
            held = [client.post("/invocations", b"{}", {}, 0.5) for _ in range(8)]
            outcomes = await asyncio.gather(*held, return_exceptions=True)
            # the first went alone (none other was unanswered), the seven after it together
            assert [type(outcome) for outcome in outcomes] == [alone] + [failure] * 7

    asyncio.run(scenario())


def test_a_bundle_no_one_can_reach_is_unreachable_for_each(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _client(f"unix:{tmp_path / 'none.sock'}") as client:
            held = [client.post("/invocations", b"{}", {}, 5) for _ in range(8)]
            outcomes = await asyncio.gather(*held, return_exceptions=True)
            assert [type(outcome) for outcome in outcomes] == [ReplicaUnreachable] * 8

    asyncio.run(scenario())
