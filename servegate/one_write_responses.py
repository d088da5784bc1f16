"""A response's head written with the first bytes of its body: one write to the socket where
uvicorn makes two.

uvicorn writes a response's status line and headers when the app sends
``http.response.start``, and its body when the app sends ``http.response.body``. Nearly every
answer here is one body (a prediction, an error), so that is two system calls through the TCP
stack and two wake-ups of the client for one answer; the client reads the head alone, then
waits for the rest. Held until the body's first bytes, the head goes with them: one write, one
segment, one read. On loopback each write costs the server ~9 µs and the client one more turn
of its loop.

Only the response's head is held: a ``100 Continue`` goes out at once (it is written before
the response starts), a ``HEAD`` request's head is not held (no body follows it), and a head
still held when the connection closes is written first. A streamed response's head goes with
its first chunk; a large body is written after the head, not copied onto it.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

_JOINED_UP_TO = 64 * 1024  # a body longer than this is written after the head, not joined to it


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, each response's head written with its body."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if (
            cycle is not None
            and not isinstance(cycle.transport, _HeadWithBody)
            and cycle.scope["method"] != "HEAD"
        ):
            cycle.transport = cast(asyncio.Transport, _HeadWithBody(cycle.transport, cycle))


class _HeadWithBody:
    """One response's transport: the first write after the response started (its head) is
    held for the next."""

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle: RequestResponseCycle | None = cycle  # until its head is written
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if len(data) > _JOINED_UP_TO:
                self._transport.write(head)
            else:
                data = head + data
        elif self._cycle is not None and self._cycle.response_started:
            self._cycle = None  # no reference cycle left behind
            self._head = data
            return
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
