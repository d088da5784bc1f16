"""Rate limits: calls per minute per endpoint, user, group or service principal.

Each limit is a token bucket holding up to ``calls`` requests and refilled at
``calls / 60`` per second, so "N calls per minute" holds over any minute, not just within
calendar minutes. ``TokenBucket`` and ``applicable_buckets`` are pure; the limiter keeps the
buckets of this gateway process.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from servegate.auth.access import Caller
from servegate.errors import RequestLimitExceeded
from servegate.store.principals import Kind

PERIOD_S = 60.0
KEYS = ("endpoint", "user", "user_group", "service_principal")


@dataclass(frozen=True)
class RateLimit:
    calls: int
    key: str = "endpoint"
    principal: str | None = None


@dataclass
class TokenBucket:
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, calls: int, now: float) -> TokenBucket:
        return cls(float(calls), float(calls), now)

    def take(self, now: float) -> float:
        """0 if a call may go now (and count it), else the seconds until one may."""
        rate = self.capacity / PERIOD_S
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate if rate else PERIOD_S


def applicable_buckets(
    endpoint_id: str, limits: Iterable[RateLimit], caller: Caller
) -> list[tuple[tuple[str, ...], int]]:
    """(bucket key, calls) of every limit that counts this caller's call."""
    found = []
    for limit in limits:
        base = (endpoint_id, limit.key, limit.principal or "", str(limit.calls))
        if limit.key == "endpoint":
            found.append(((*base, "*"), limit.calls))
        elif limit.key == "user_group":
            if limit.principal in caller.group_names:
                found.append(((*base, "group"), limit.calls))
        else:
            kind = Kind.USER.value if limit.key == "user" else Kind.SERVICE_PRINCIPAL.value
            if caller.kind == kind and limit.principal in (None, caller.name):
                found.append(((*base, caller.id), limit.calls))
    return found


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._lock = threading.Lock()

    def check(
        self, endpoint_id: str, limits: Iterable[RateLimit], caller: Caller, now: float
    ) -> None:
        """Count the call against every applicable limit; 429 if any is exhausted.

        A refused call consumes nothing, so a client that backs off is not punished twice.
        """
        buckets = applicable_buckets(endpoint_id, limits, caller)
        if not buckets:
            return
        with self._lock:
            held = [
                self._buckets.setdefault(key, TokenBucket.full(calls, now))
                for key, calls in buckets
            ]
            waits = []
            for bucket in held:
                wait = bucket.take(now)
                waits.append(wait)
                if wait:
                    break
            if any(waits):
                for bucket, wait in zip(held, waits, strict=False):
                    if not wait:
                        bucket.tokens += 1.0  # give back what this refused call took
                raise RequestLimitExceeded(
                    "This endpoint's rate limit is exhausted; retry later.",
                    retry_after=max(1, math.ceil(max(waits))),
                )
