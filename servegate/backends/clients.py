"""HTTP clients for replica addresses (``unix:/path/to.sock`` or ``http://host:port``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpx

_UNIX = "unix:"


def replica_client(address: str) -> httpx.AsyncClient:
    """A pooled client for one replica; no overall timeout, a bounded connect."""
    timeout = httpx.Timeout(None, connect=5.0)
    if address.startswith(_UNIX):
        transport = httpx.AsyncHTTPTransport(uds=address.removeprefix(_UNIX))
        return httpx.AsyncClient(transport=transport, base_url="http://replica", timeout=timeout)
    return httpx.AsyncClient(base_url=address, timeout=timeout)


class ReplicaClients:
    """One client per address, reused across routing snapshots so connections stay pooled."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def get(self, address: str) -> httpx.AsyncClient:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = replica_client(address)
        return client

    def retain(self, addresses: Iterable[str]) -> None:
        """Close the clients of addresses no longer routed to."""
        keep = set(addresses)
        for address in self._clients.keys() - keep:
            client = self._clients.pop(address)
            asyncio.get_running_loop().create_task(client.aclose())

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
