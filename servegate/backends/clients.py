"""HTTP clients for replica addresses (``unix:/path/to.sock`` or ``http(s)://host:port/prefix``).

Every request a caller makes crosses this hop, so what it costs is most of what the gateway
adds to a prediction. It is a pool of keep-alive HTTP/1.1 connections per replica: a request
is one write of its head and body, the answer is parsed by httptools (the parser uvicorn
serves with). aiohttp's client, used here before, spent a third of the gateway's CPU per
request building request and response objects and a writer task for each (the gateway's CPU
per proxied request went from 0.9 to 0.45 ms on one machine with this pool); httpx costs
several times more than aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import orjson

_UNIX = "unix:"
CONNECT_TIMEOUT_S = 5.0
_GONE_RETRY_S = 0.02
# uvicorn (which every replica runs) closes a connection idle for 5 s: one idle longer than
# this is closed here rather than reused, so a request never goes out on a closing connection.
IDLE_REUSE_S = 4.0
PASSED_ON_HEADERS = ("retry-after", "inference-header-content-length")


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

    @property
    def reusable(self) -> bool:
        return not self.closed and self._answer is None

    async def exchange(self, request: bytes, timeout_s: float) -> ReplicaAnswer:
        assert self.transport is not None and self._answer is None
        loop = asyncio.get_running_loop()
        answer = self._answer = loop.create_future()
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

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        headers, self._headers = self._headers, {}
        body, self._body = self._body, []
        answer, self._answer = self._answer, None
        if not self.parser.should_keep_alive():
            self.close()
        self.idle_since = time.monotonic()
        if answer is None or answer.done():
            self.close()  # an answer nobody asked for: this connection is out of step
            return
        answer.set_result(
            ReplicaAnswer(
                self.parser.get_status_code(),
                b"".join(body),
                headers.get("content-type", "application/json"),
                {name: headers[name] for name in PASSED_ON_HEADERS if name in headers},
            )
        )


class ReplicaClient:
    """A pool of keep-alive connections to one replica."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._idle: list[_Connection] = []
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
        lines = [f"{method} {self._prefix}{path} HTTP/1.1\r\nHost: {self._host_header}\r\n"]
        if body or method != "GET":
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        lines.append("\r\n")
        connection = await self._connection()
        answer = await connection.exchange("".join(lines).encode("latin-1") + body, timeout_s)
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
