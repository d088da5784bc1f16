"""Time limits on a request's head and body, which uvicorn does not have.

uvicorn closes a keep-alive connection left idle after a response, but a connection that never
completes its request line and headers, or dribbles its body a byte at a time, holds a socket
and a task for as long as the client likes: enough of them starve every other client. Here a
connection must complete each request's head within ``head_timeout_s`` (from its opening, or
from the request's first byte), and its body within ``body_timeout_s`` of the head. A head too
slow closes the connection (after a 408 if part of it came); a body too slow gets a 408 in the
API's error format and the connection is closed, which also ends the route waiting for it.
What the HTTP parser refuses is answered in the API's error format too.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from servegate.errors import RequestTimeout, error_body
from servegate.one_write_responses import OneWriteHttpToolsProtocol


class TimedHttpToolsProtocol(OneWriteHttpToolsProtocol):
    def __init__(self, *args: Any, head_timeout_s: float, body_timeout_s: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.head_timeout_s = head_timeout_s
        self.body_timeout_s = body_timeout_s
        self._deadline: asyncio.TimerHandle | None = None
        self._head_started = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout_s, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        self._arm(self.head_timeout_s, self._head_too_slow)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._head_started = False
        self._arm(self.body_timeout_s, self._body_too_slow)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._head_started:
            seconds = f"{self.head_timeout_s:g}"
            self._refuse(f"The request's line and headers did not arrive within {seconds}s.")
        self.transport.close()

    def _body_too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            self._refuse(f"The request's body did not arrive within {self.body_timeout_s:g}s.")
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """What the parser refused, in the API's error format rather than uvicorn's text."""
        message = "The request is not valid HTTP/1.1, or its line or headers are too long."
        self._refuse(message, status=b"400 Bad Request")
        self.transport.close()

    def _refuse(self, message: str, status: bytes = b"408 Request Timeout") -> None:
        path = self.scope.get("path", "") if self.scope else ""
        body = error_body(RequestTimeout.error_code, message, path)
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )


def timed_http_protocol(head_timeout_s: float, body_timeout_s: float) -> Any:
    """uvicorn's ``http`` protocol with these limits (a partial of a module-level class, so
    it pickles into ``--workers`` processes)."""
    return functools.partial(
        TimedHttpToolsProtocol, head_timeout_s=head_timeout_s, body_timeout_s=body_timeout_s
    )
