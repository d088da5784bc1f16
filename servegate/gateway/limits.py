"""Limits on what a request may carry before any route sees it.

uvicorn's fast HTTP parser accepts headers of any size, so the gateway refuses requests whose
headers add up to more than ``max_header_bytes`` (431) before authenticating or routing them.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from servegate.errors import HeadersTooLarge, error_response


def header_bytes(headers: list[tuple[bytes, bytes]]) -> int:
    """What a request's headers take, as counted against ``max_header_bytes``."""
    return sum(len(name) + len(value) + 4 for name, value in headers)


class HeaderLimitMiddleware:
    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = header_bytes(scope["headers"])
            if size > self.max_header_bytes:
                error = HeadersTooLarge(
                    f"The request's headers take {size} bytes; the limit is "
                    f"{self.max_header_bytes}."
                )
                await error_response(error)(scope, receive, send)
                return
        await self.app(scope, receive, send)
