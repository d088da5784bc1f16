"""Several ``/invocations`` requests in one exchange between the gateway and a replica.

Under load the gateway holds many requests for one replica at once. Sent one by one, each
costs both processes an HTTP request and its answer (parsing, a task, a write and a read);
gathered in one bundle, they cost one. The replica answers each request of a bundle exactly
as it answers it alone (its own ``/invocations``, its own status, headers and body), and
its batcher sees them arrive together.

The answers go back together once all are answered (for a batched model they are ready at
once); answers left waiting ``WAIT_FOR_THE_REST_S`` for the rest go at once, and the rest
follow as they come, so one slow request does not hold the others.

The format is MessagePack: a request bundle is an array of ``[headers, body]`` (headers a
map of lower-case names to values, the body bytes); its answer is a sequence of
``[index, status, headers, body]``, one per request, ``index`` its place in the bundle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgpack

PATH = "/bundled-invocations"
CONTENT_TYPE = "application/msgpack"
MAX_REQUESTS = 64
MAX_BODY_BYTES = 64 * 1024  # a bigger request goes alone: its own exchange costs it little
_MAX_HEADER_BYTES = 16 * 1024
MAX_BUNDLE_BYTES = MAX_REQUESTS * (MAX_BODY_BYTES + _MAX_HEADER_BYTES)
WAIT_FOR_THE_REST_S = 0.01
MAX_ANSWER_BYTES = 1 << 30  # one answer (predictions for up to the replica's row limit)
# What msgpack raises for bytes that are not MessagePack, or keys it cannot hash.
_NOT_MESSAGEPACK = (ValueError, TypeError, msgpack.UnpackException)


class BadBundle(ValueError):
    """Bytes that are not a bundle of this format."""


@dataclass(frozen=True)
class BundledRequest:
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class BundledAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def pack_requests(requests: Sequence[tuple[Mapping[str, str], bytes]]) -> bytes:
    return msgpack.packb([[dict(headers), body] for headers, body in requests])


def unpack_requests(data: bytes) -> list[BundledRequest]:
    bundle = _unpacked(data)
    if not isinstance(bundle, list) or not 0 < len(bundle) <= MAX_REQUESTS:
        raise BadBundle(f"a bundle is an array of 1 to {MAX_REQUESTS} requests")
    requests = []
    for entry in bundle:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], bytes)):
            raise BadBundle("each request of a bundle is [headers, body]")
        requests.append(BundledRequest(_headers(entry[0]), entry[1]))
    return requests


def pack_answer(index: int, answer: BundledAnswer) -> bytes:
    return msgpack.packb([index, answer.status, answer.headers, answer.body])


class AnswerReader:
    """The answers of a bundle of ``count`` requests, read as the bytes come."""

    def __init__(self, count: int) -> None:
        self.unanswered = set(range(count))
        self._unpacker = msgpack.Unpacker(max_buffer_size=MAX_ANSWER_BYTES)

    def feed(self, data: bytes) -> list[tuple[int, BundledAnswer]]:
        """The answers these bytes complete, with their places in the bundle."""
        self._unpacker.feed(data)
        answers = []
        try:
            for entry in self._unpacker:
                answers.append(self._answer(entry))
        except _NOT_MESSAGEPACK as error:
            raise BadBundle(f"not MessagePack: {error}") from error
        return answers

    def _answer(self, entry: object) -> tuple[int, BundledAnswer]:
        if not (
            isinstance(entry, list)
            and len(entry) == 4
            and entry[0] in self.unanswered
            and isinstance(entry[1], int)
            and isinstance(entry[3], bytes)
        ):
            raise BadBundle("each answer of a bundle is [index, status, headers, body], once")
        self.unanswered.discard(entry[0])
        return entry[0], BundledAnswer(entry[1], _headers(entry[2]), entry[3])


def _unpacked(data: bytes) -> object:
    try:
        return msgpack.unpackb(data)
    except _NOT_MESSAGEPACK as error:
        raise BadBundle(f"not MessagePack: {error}") from error


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and isinstance(text, str) for name, text in value.items()
    ):
        raise BadBundle("headers are a map of names to values")
    return value
