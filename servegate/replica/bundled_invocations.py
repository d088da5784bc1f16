"""The replica's side of a bundle of invocations (``servegate.invocation_bundles``): each
request of it is answered by the replica's own ``/invocations``, side by side as if each had
come alone, and the answers go back in one response.

The request answered last writes the answers itself, as soon as it has its own: a task
gathering them would wake a turn or two of the event loop later, behind every request that
became ready meanwhile (the next bundles' decoding, a millisecond under load).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servegate.body import receive_limited_body
from servegate.errors import BadRequest, ServegateError, error_response
from servegate.invocation_bundles import (
    CONTENT_TYPE,
    MAX_BUNDLE_BYTES,
    WAIT_FOR_THE_REST_S,
    BadBundle,
    BundledAnswer,
    BundledRequest,
    pack_answer,
    unpack_requests,
)

logger = logging.getLogger(__name__)

INVOCATIONS_PATH = "/invocations"
_HEAD = [(b"content-type", CONTENT_TYPE.encode())]


class BundledInvocations:
    def __init__(
        self, invocations: ASGIApp, on_bundle: Callable[[int], None] | None = None
    ) -> None:
        """``invocations``: the app that answers a request to ``/invocations``;
        ``on_bundle``: told the requests of every bundle (the bundle-size metric)."""
        self.invocations = invocations
        self.on_bundle = on_bundle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        try:
            data = await receive_limited_body(
                receive, declared.decode("latin-1") if declared else None, MAX_BUNDLE_BYTES
            )
            requests = unpack_requests(data)
        except ClientDisconnect:
            return  # no one is left to answer
        except BadBundle as error:
            response = error_response(BadRequest(f"Not a bundle of invocations: {error}."))
        except ServegateError as error:
            response = error_response(error)
        else:
            if self.on_bundle is not None:
                self.on_bundle(len(requests))
            answers = _Answers(len(requests), send)
            await asyncio.gather(
                *(
                    self._answer(scope, receive, request, answers.sender(index))
                    for index, request in enumerate(requests)
                )
            )
            return
        await response(scope, receive, send)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        request: BundledRequest,
        answered: Callable[[BundledAnswer], Awaitable[None]],
    ) -> None:
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in request.headers.items()
            if name != "content-length"
        ]
        headers.append((b"content-length", b"%d" % len(request.body)))
        path = scope.get("root_path", "") + INVOCATIONS_PATH
        alone = {**scope, "path": path, "raw_path": path.encode(), "headers": headers}
        answer = _Captured()
        try:
            await self.invocations(alone, _Body(request.body, receive), answer)
        except Exception as error:  # noqa: BLE001 - one request's failure is its own answer
            logger.error("a bundled request failed", exc_info=error)
            failed = ServegateError(f"The replica failed: {type(error).__name__}: {error}")
            await answered(_answer_of(error_response(failed)))
            return
        await answered(answer.bundled())


class _Answers:
    """A bundle's answers, written together when the last comes, in one response of known
    length. An answer left waiting ``WAIT_FOR_THE_REST_S`` for the rest of its bundle is
    written with those ready then, and the rest follow as they come (chunked): one slow
    request does not hold the others' answers."""

    def __init__(self, count: int, send: Send) -> None:
        self.send = send
        self.unanswered = count
        self.ready: list[bytes] = []
        self.writing = False
        self.started = False
        self.timer: asyncio.TimerHandle | None = None
        self.late: asyncio.Task[None] | None = None

    def sender(self, index: int) -> Callable[[BundledAnswer], Awaitable[None]]:
        async def answered(answer: BundledAnswer) -> None:
            self.ready.append(pack_answer(index, answer))
            self.unanswered -= 1
            if not self.unanswered:
                await self._write()
            elif self.timer is None and not self.writing:
                loop = asyncio.get_running_loop()
                self.timer = loop.call_later(WAIT_FOR_THE_REST_S, self._write_late)

        return answered

    def _write_late(self) -> None:
        self.late = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.writing:
            return  # the answers ready go out with the write under way
        self.writing = True
        try:
            if not self.started:
                self.started = True
                if not self.unanswered:
                    await self._send_whole()
                    return
                await self.send({"type": "http.response.start", "status": 200, "headers": _HEAD})
            while self.ready:
                chunk, self.ready = b"".join(self.ready), []
                more = self.unanswered > 0
                await self.send({"type": "http.response.body", "body": chunk, "more_body": more})
        finally:
            self.writing = False

    async def _send_whole(self) -> None:
        body, self.ready = b"".join(self.ready), []
        headers = [*_HEAD, (b"content-length", b"%d" % len(body))]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


class _Body:
    """A bundled request's ``receive``: its body, then whatever its bundle's connection says
    (a disconnect, if the gateway goes)."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.body: bytes | None = body
        self.receive = receive

    async def __call__(self) -> Message:
        if self.body is None:
            return await self.receive()
        body, self.body = self.body, None
        return {"type": "http.request", "body": body, "more_body": False}


class _Captured:
    """A bundled request's ``send``: keeps its answer."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: dict[str, str] = {}
        self.parts: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in message.get("headers", [])
            }
        elif message["type"] == "http.response.body":
            self.parts.append(message.get("body", b""))

    def bundled(self) -> BundledAnswer:
        return BundledAnswer(self.status, self.headers, b"".join(self.parts))


def _answer_of(response: Response) -> BundledAnswer:
    return BundledAnswer(response.status_code, dict(response.headers), bytes(response.body))
