"""HTTP clients for replica addresses (``unix:/path/to.sock`` or ``http(s)://host:port/prefix``).

Every request a caller makes crosses this hop, so what it costs is most of what the gateway
adds to a prediction. It is a pool of keep-alive HTTP/1.1 connections per replica: a request
is one write of its head and body, the answer is parsed by httptools (the parser uvicorn
serves with). aiohttp's client, used here before, spent a third of the gateway's CPU per
request building request and response objects and a writer task for each (the gateway's CPU
per proxied request went from 0.9 to 0.45 ms on one machine with this pool); httpx costs
several times more than aiohttp.

Requests to a local replica's ``/invocations`` that the gateway holds at the same turn of its
event loop go out together, as one bundle (``servegate.invocation_bundles``): a request waits
one turn for company, and under load the replica handles one exchange for many requests (its
CPU per request fell by a fifth to a third). Not when no other request to the replica is
unanswered and the last to wait met none: one connection's requests go at once, without a
turn of the loop for nothing (strace: the gateway waited for events twice a request, not
three times). Clients that come back together (a bundle's answered) still all wait: the first
sent alone would have the replica predict it alone, a forest's CPU a request a fifth higher
at 64 connections.

A bundle goes as soon as it holds half of the invocations that were unanswered when the last
turn's gathering ended (2 to ``BUNDLE_SENT_AT``), before the turn ends: the replica starts on
it while the gateway still reads the rest. One bundle a turn kept the two processes in
lockstep, each idle while the other worked on the same clients' requests: with XGBoost, whose
replica keeps up with the gateway, both sat at half a core with 64 connections waiting (a
third fewer requests than sending each alone). Bundles of 16 sent at the end of the turn
stayed in lockstep; sent as they fill, both processes ran at 0.8 of a core. With 8 clients a
bundle of 16 never fills and the 8 went round together; halves go round in turn (XGBoost
through the gateway at 8 connections: 3,274 against 2,870 requests/s, the mean of eight rounds,
about what sending each alone gives).

Bundles go only to replicas on a Unix socket (the local backend's, which run this very
code); a replica elsewhere (a pod, Ray Serve) may be another version of servegate, or sit
behind a proxy that does not know them. A server that does not know the bundle's route
(404 or 405) is sent each request of it alone, then and from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import orjson

from servegate import invocation_bundles as bundles

_UNIX = "unix:"
CONNECT_TIMEOUT_S = 5.0
_GONE_RETRY_S = 0.02
# uvicorn (which every replica runs) closes a connection idle for 5 s: one idle longer than
# this is closed here rather than reused, so a request never goes out on a closing connection.
IDLE_REUSE_S = 4.0
PASSED_ON_HEADERS = ("retry-after", "inference-header-content-length")
_INVOCATIONS = "/invocations"
_DEFAULT_CONTENT_TYPE = "application/json"
_UNKNOWN_ROUTE = (404, 405)
BUNDLE_SENT_AT = 16  # requests: a bundle this full goes at once, however many are unanswered
_STOPPED = "the gateway stopped the exchange"
_UNANSWERED = "the replica's answer to a bundle left the request unanswered"


class ReplicaUnreachable(Exception):
    """The request never reached the replica: safe to send it to another one."""


class ReplicaDropped(Exception):
    """The replica took the request but closed the connection before answering."""


class ReplicaTimeout(Exception):
    """The replica did not answer in time."""


@dataclass(frozen=True)
class ReplicaAnswer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)  # PASSED_ON_HEADERS it sent


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[ReplicaAnswer] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._streamed: Callable[[bytes], None] | None = None

    @property
    def reusable(self) -> bool:
        return not self.closed and self._answer is None

    async def exchange(
        self,
        request: bytes,
        timeout_s: float,
        streamed: Callable[[bytes], None] | None = None,
    ) -> ReplicaAnswer:
        """The answer to ``request``. With ``streamed``, the body of an answer to a bundle
        goes to it as it arrives, and the answer returned has none."""
        assert self.transport is not None and self._answer is None
        loop = asyncio.get_running_loop()
        answer = self._answer = loop.create_future()
        self._streamed = streamed
        timer = loop.call_later(timeout_s, self._time_out, timeout_s)
        self.transport.write(request)
        try:
            return await answer
        except asyncio.CancelledError:
            self.close()  # its answer may still come: the connection cannot carry another
            raise
        finally:
            timer.cancel()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        answer, self._answer = self._answer, None
        self._streamed = None
        self.close()
        if answer is not None and not answer.done():
            answer.set_exception(error)

    def _time_out(self, timeout_s: float) -> None:
        self._fail(ReplicaTimeout(f"no answer within {timeout_s:g}s"))

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ReplicaDropped(f"the replica's answer is not HTTP: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ReplicaDropped("the replica closed the connection before answering"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if not _bundle_answer(status, self._headers.get("content-type")):
            self._streamed = None  # the whole answer, read as any other

    def on_body(self, body: bytes) -> None:
        if self._streamed is None:
            self._body.append(body)
            return
        try:
            self._streamed(body)
        except bundles.BadBundle as error:
            self._fail(ReplicaDropped(f"the replica's answer to a bundle is not one: {error}"))

    def on_message_complete(self) -> None:
        self._streamed = None
        headers, self._headers = self._headers, {}
        body, self._body = self._body, []
        answer, self._answer = self._answer, None
        if not self.parser.should_keep_alive():
            self.close()
        self.idle_since = time.monotonic()
        if answer is None or answer.done():
            self.close()  # an answer nobody asked for: this connection is out of step
            return
        answer.set_result(_answer(self.parser.get_status_code(), headers, b"".join(body)))


def _bundle_answer(status: int, content_type: str | None) -> bool:
    """Whether an answer is a bundle's answers (else the bundle was answered as a whole)."""
    return status == 200 and content_type == bundles.CONTENT_TYPE


def _answer(status: int, headers: dict[str, str], body: bytes) -> ReplicaAnswer:
    """An answer as the gateway keeps it (``headers``: lower-case names)."""
    return ReplicaAnswer(
        status,
        body,
        headers.get("content-type", _DEFAULT_CONTENT_TYPE),
        {name: headers[name] for name in PASSED_ON_HEADERS if name in headers},
    )


@dataclass
class _Bundled:
    """A request gathered into a bundle, and where its answer goes."""

    headers: Mapping[str, str]
    body: bytes
    answer: asyncio.Future[ReplicaAnswer]


class ReplicaClient:
    """A pool of keep-alive connections to one replica."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._idle: list[_Connection] = []
        self._bundles = address.startswith(_UNIX)
        self._gathering: dict[float, list[_Bundled]] = {}  # by timeout: requests joining one
        self._invoking = 0  # invocations posted and not yet answered
        self._met_company = False  # whether the last request to wait for company found some
        self._bundle_at = BUNDLE_SENT_AT  # a bundle this full goes at once
        self._sending: set[asyncio.Task[None]] = set()
        if address.startswith(_UNIX):
            self._path: str | None = address.removeprefix(_UNIX)
            self._host, self._port, self._ssl = "", 0, False
            self._host_header, self._prefix = "replica", ""
        else:
            url = urlsplit(address)
            self._path = None
            self._ssl = url.scheme == "https"
            self._host, self._port = url.hostname or "", url.port or (443 if self._ssl else 80)
            self._host_header, self._prefix = url.netloc, url.path.rstrip("/")

    async def post(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout_s: float,
        method: str = "POST",
    ) -> ReplicaAnswer:
        """Send one request; raises ReplicaUnreachable, ReplicaDropped or ReplicaTimeout."""
        if path != _INVOCATIONS or method != "POST":
            return await self._send(path, body, headers, timeout_s, method)
        company = self._invoking or self._met_company  # more may come in this turn
        self._invoking += 1
        try:
            if company and self._bundles and len(body) <= bundles.MAX_BODY_BYTES:
                return await self._gathered(body, headers, timeout_s)
            return await self._send(path, body, headers, timeout_s, method)
        finally:
            self._invoking -= 1

    async def _gathered(
        self, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> ReplicaAnswer:
        """The answer to an invocation sent with those the loop reaches in the same turn, in
        bundles that go at once when full (half of what was unanswered at the last turn's end,
        2 to ``BUNDLE_SENT_AT``)."""
        loop = asyncio.get_running_loop()
        mine = _Bundled(headers, body, loop.create_future())
        gathering = self._gathering.get(timeout_s)
        if gathering is not None:
            gathering.append(mine)
            if len(gathering) >= self._bundle_at:
                del self._gathering[timeout_s]
                self._send_bundle(gathering, timeout_s)
            return await mine.answer
        gathering = self._gathering[timeout_s] = [mine]
        try:
            await asyncio.sleep(0)  # one turn of the loop: the requests read in it join
        except asyncio.CancelledError:
            if self._gathering.get(timeout_s) is gathering:  # not sent yet: the rest still go
                del self._gathering[timeout_s]
                gathering.remove(mine)
                if gathering:
                    self._send_bundle(gathering, timeout_s)
            raise
        self._met_company = len(gathering) > 1
        self._bundle_at = max(2, min(BUNDLE_SENT_AT, self._invoking // 2))
        if self._gathering.get(timeout_s) is not gathering:
            return await mine.answer  # it filled up and went
        del self._gathering[timeout_s]
        if len(gathering) == 1:
            return await self._send(_INVOCATIONS, body, headers, timeout_s)
        self._send_bundle(gathering, timeout_s)
        return await mine.answer

    def _send_bundle(self, gathered: list[_Bundled], timeout_s: float) -> None:
        task = asyncio.get_running_loop().create_task(self._exchange_bundle(gathered, timeout_s))
        self._sending.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._sending.discard)

    async def _exchange_bundle(self, gathered: list[_Bundled], timeout_s: float) -> None:
        """Send ``gathered`` in one request; each is answered as the replica answers it, as
        soon as its answer arrives."""
        try:
            rest = await self._stream_bundle(gathered, timeout_s)
        except (ReplicaUnreachable, ReplicaDropped, ReplicaTimeout) as error:
            rest = [(each, type(error)(*error.args)) for each in gathered]
        except BaseException:  # cancelled (the gateway stops): no answer can come
            rest = [(each, ReplicaDropped(_STOPPED)) for each in gathered]
            raise
        finally:
            for each, outcome in rest:
                if each.answer.done():  # answered, or its caller has gone
                    continue
                if isinstance(outcome, BaseException):
                    each.answer.set_exception(outcome)
                else:
                    each.answer.set_result(outcome)

    async def _stream_bundle(
        self, gathered: list[_Bundled], timeout_s: float
    ) -> list[tuple[_Bundled, ReplicaAnswer | BaseException]]:
        """Send the bundle and answer its requests as their answers stream in; returns what
        the requests the stream did not answer get instead."""
        reader = bundles.AnswerReader(len(gathered))

        def arrived(data: bytes) -> None:
            for index, one in reader.feed(data):
                waiting = gathered[index].answer
                if not waiting.done():
                    waiting.set_result(_answer(one.status, one.headers, one.body))

        bundle = bundles.pack_requests([(each.headers, each.body) for each in gathered])
        headers = {"content-type": bundles.CONTENT_TYPE}
        answer = await self._send(bundles.PATH, bundle, headers, timeout_s, streamed=arrived)
        if _bundle_answer(answer.status, answer.content_type):
            left = [gathered[index] for index in sorted(reader.unanswered)]
            return [(each, ReplicaDropped(_UNANSWERED)) for each in left]
        if answer.status in _UNKNOWN_ROUTE:
            self._bundles = False  # a server that does not know bundles
            alone = [self._send(_INVOCATIONS, one.body, one.headers, timeout_s) for one in gathered]
            answers = await asyncio.gather(*alone, return_exceptions=True)
            return list(zip(gathered, answers, strict=True))
        return [(each, answer) for each in gathered]  # refused as a whole: each request's answer

    async def _send(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout_s: float,
        method: str = "POST",
        streamed: Callable[[bytes], None] | None = None,
    ) -> ReplicaAnswer:
        lines = [f"{method} {self._prefix}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"]
        if body or method != "GET":
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        lines.append("\r\n")
        connection = await self._connection()
        request = "".join(lines).encode("latin-1") + body
        answer = await connection.exchange(request, timeout_s, streamed)
        if connection.reusable:
            self._idle.append(connection)
        return answer

    async def _connection(self) -> _Connection:
        """The most recently used idle connection still fit to reuse, or a new one."""
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable and now - connection.idle_since < IDLE_REUSE_S:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            if self._path is not None:
                opening = loop.create_unix_connection(_Connection, self._path)
            else:
                context = ssl.create_default_context() if self._ssl else None
                opening = loop.create_connection(_Connection, self._host, self._port, ssl=context)
            _, connection = await asyncio.wait_for(opening, CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as error:
            raise ReplicaUnreachable(f"cannot connect to {self.address}: {error!r}") from error
        return connection

    async def _get(self, path: str, timeout_s: float) -> ReplicaAnswer | None:
        try:
            return await self.post(path, b"", {}, timeout_s, "GET")
        except (ReplicaUnreachable, ReplicaDropped, ReplicaTimeout):
            return None

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """Whether the replica answers ``/ping`` with 200 now."""
        answer = await self._get("/ping", timeout_s)
        return answer is not None and answer.status == 200

    async def gone(self, attempts: int = 3, timeout_s: float = 1.0) -> bool:
        """Whether nothing listens at the replica's address any more (a dead or stopped
        replica), as opposed to one that is there but slow or busy. A process being killed
        may reset its connections a moment before its listening socket closes: a connection
        that opens is tried again, shortly, a few times."""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(_GONE_RETRY_S)
            try:
                if self._path is not None:
                    opening = asyncio.open_unix_connection(self._path)
                else:
                    opening = asyncio.open_connection(self._host, self._port)
                _, writer = await asyncio.wait_for(opening, timeout_s)
            except (ConnectionRefusedError, FileNotFoundError):
                return True
            except (OSError, asyncio.TimeoutError):
                return False
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return False

    async def load(self, timeout_s: float = 2.0) -> dict[str, Any] | None:
        """The replica's ``/load`` reading, or None if it did not answer."""
        answer = await self._get("/load", timeout_s)
        if answer is None or answer.status != 200:
            return None
        try:
            reading = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return None
        return reading if isinstance(reading, dict) else None

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class ReplicaClients:
    """One client per address, reused across routing snapshots so connections stay pooled."""

    def __init__(self) -> None:
        self._clients: dict[str, ReplicaClient] = {}

    def get(self, address: str) -> ReplicaClient:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = ReplicaClient(address)
        return client

    def retain(self, addresses: Iterable[str]) -> None:
        """Close the clients of addresses no longer routed to."""
        keep = set(addresses)
        for address in self._clients.keys() - keep:
            client = self._clients.pop(address)
            asyncio.get_running_loop().create_task(client.close())

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
