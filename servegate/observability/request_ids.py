"""Request ids: one per request, accepted from ``x-request-id`` or made up, echoed back and
carried by every log line written while the request is handled (``log_format``).

The id lives in a context variable: each request runs in its own task, and worker threads
(predict, feature lookups) get a copy of the task's context.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

HEADER = "x-request-id"
_ACCEPTED = re.compile(r"[\x21-\x7e]{1,128}")  # printable, no spaces: safe in a header and a log

current: ContextVar[str | None] = ContextVar("request_id", default=None)


def begin(given: str | None) -> str:
    """This request's id: the client's, if it is a sensible one, else a new one."""
    # A new one is what uuid4().hex is made of (128 bits from the OS), without the UUID object:
    # 0.9 µs, not 3.
    request_id = given if given is not None and _ACCEPTED.fullmatch(given) else os.urandom(16).hex()
    current.set(request_id)
    return request_id
