"""Reading a request body with a size limit (413 past it), without trusting Content-Length."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from servegate.errors import PayloadTooLarge


async def read_limited_body(request: Request, limit: int) -> bytes:
    return await _collect(request.stream(), request.headers.get("content-length"), limit)


async def receive_limited_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The same, straight from ASGI ``receive`` (``declared``: the Content-Length header)."""
    return await _collect(_chunks(receive), declared, limit)


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _collect(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"Request body of {int(declared)} bytes exceeds the limit of {limit} bytes."
        )
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        parts.append(chunk)
    return b"".join(parts)
