"""HTTP clients for replica addresses (``unix:/path/to.sock`` or ``http://host:port``).

aiohttp, not httpx, on this hop: it is the one every request takes, and aiohttp's client
costs a fraction of httpx's per request (0.25 ms against 1.5 ms over a Unix socket, measured
here), which is most of what the gateway adds to a prediction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

_UNIX = "unix:"
CONNECT_TIMEOUT_S = 5.0
_GONE_RETRY_S = 0.02


class ReplicaUnreachable(Exception):
    """The request never reached the replica: safe to send it to another one."""


class ReplicaDropped(Exception):
    """The replica took the request but closed the connection before answering."""


class ReplicaTimeout(Exception):
    """The replica did not answer in time."""


PASSED_ON_HEADERS = ("retry-after", "inference-header-content-length")


@dataclass(frozen=True)
class ReplicaAnswer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)  # PASSED_ON_HEADERS it sent


class ReplicaClient:
    """A pooled keep-alive client for one replica."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._session: aiohttp.ClientSession | None = None
        if address.startswith(_UNIX):
            self._base = "http://replica"
        else:
            self._base = address.rstrip("/")

    def _open(self) -> aiohttp.ClientSession:
        """The session, made on first use: aiohttp sessions belong to a running loop."""
        if self._session is None or self._session.closed:
            if self.address.startswith(_UNIX):
                connector: aiohttp.BaseConnector = aiohttp.UnixConnector(
                    path=self.address.removeprefix(_UNIX), limit=0
                )
            else:
                connector = aiohttp.TCPConnector(limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
            )
        return self._session

    async def post(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout_s: float,
        method: str = "POST",
    ) -> ReplicaAnswer:
        timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=CONNECT_TIMEOUT_S)
        try:
            async with self._open().request(
                method, self._base + path, data=body, headers=dict(headers), timeout=timeout
            ) as response:
                return ReplicaAnswer(
                    response.status,
                    await response.read(),
                    response.headers.get("content-type", "application/json"),
                    {
                        name: value
                        for name in PASSED_ON_HEADERS
                        if (value := response.headers.get(name)) is not None
                    },
                )
        except aiohttp.ClientConnectorError as error:
            raise ReplicaUnreachable(str(error)) from error
        except asyncio.TimeoutError as error:
            raise ReplicaTimeout(f"no answer within {timeout_s:.0f}s") from error
        except aiohttp.ClientError as error:
            raise ReplicaDropped(str(error)) from error

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """Whether the replica answers ``/ping`` with 200 now."""
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._open().get(self._base + "/ping", timeout=timeout) as response:
                await response.read()
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def gone(self, attempts: int = 3, timeout_s: float = 1.0) -> bool:
        """Whether nothing listens at the replica's address any more (a dead or stopped
        replica), as opposed to one that is there but slow or busy. A process being killed
        may reset its connections a moment before its listening socket closes: a connection
        that opens is tried again, shortly, a few times."""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(_GONE_RETRY_S)
            try:
                if self.address.startswith(_UNIX):
                    opening = asyncio.open_unix_connection(self.address.removeprefix(_UNIX))
                else:
                    url = URL(self.address)
                    opening = asyncio.open_connection(url.host, url.port)
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
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._open().get(self._base + "/load", timeout=timeout) as response:
                if response.status != 200:
                    return None
                reading: dict[str, Any] = await response.json()
                return reading
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
