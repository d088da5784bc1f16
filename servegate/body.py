"""Reading a request body with a size limit (413 past it), without trusting Content-Length."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from servegate.errors import PayloadTooLarge


async def read_limited_body(request: Request, limit: int) -> bytes:
    _refuse_declared(request.headers.get("content-length"), limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size = _counted(size, chunk, limit)
        parts.append(chunk)
    return b"".join(parts)


async def receive_limited_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The same, straight from ASGI ``receive`` (``declared``: the Content-Length header).

    A loop over ``receive`` rather than an async generator: the hot paths of gateway and
    replica read nearly every body in one message, and take it as it came."""
    _refuse_declared(declared, limit)
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size = _counted(size, chunk, limit)
        if not message.get("more_body", False):
            return chunk if not parts else b"".join((*parts, chunk))
        parts.append(chunk)


def _refuse_declared(declared: str | None, limit: int) -> None:
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"Request body of {int(declared)} bytes exceeds the limit of {limit} bytes."
        )


def _counted(size: int, chunk: bytes, limit: int) -> int:
    size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.")
    return size
