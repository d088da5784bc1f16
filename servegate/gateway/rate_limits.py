"""Rate limits: calls per minute per endpoint, user, group or service principal.

Each limit is a token bucket holding up to ``calls`` requests and refilled at
``calls / 60`` per second: a client may burst up to N calls, then goes on at N per minute,
with no calendar-minute edges to game. ``TokenBucket``, ``take_all`` and
``applicable_buckets`` are pure; a ``LocalRateLimiter`` keeps the buckets in its process
(one gateway process), a ``SharedRateLimiter`` in the store (``--workers``, or several
gateways on one database).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from servegate.auth.access import Caller
from servegate.errors import RequestLimitExceeded
from servegate.store.database import Database
from servegate.store.models import RateBucketRow
from servegate.store.principals import Kind

PERIOD_S = 60.0


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


def take_all(buckets: list[TokenBucket], now: float) -> float:
    """Count one call against every bucket: 0 if it may go, else the seconds to wait.

    A refused call consumes nothing, so a client that backs off is not punished twice.
    """
    waits = []
    for bucket in buckets:
        wait = bucket.take(now)
        waits.append(wait)
        if wait:
            break
    if not any(waits):
        return 0.0
    for bucket, wait in zip(buckets, waits, strict=False):
        if not wait:
            bucket.tokens += 1.0  # give back what this refused call took
    return max(waits)


def _refuse(wait: float) -> RequestLimitExceeded:
    return RequestLimitExceeded(
        "This endpoint's rate limit is exhausted; retry later.",
        retry_after=max(1, math.ceil(wait)),
    )


class RateLimiter(Protocol):
    async def check(self, endpoint_id: str, limits: Iterable[RateLimit], caller: Caller) -> None:
        """Count the call against every applicable limit; 429 if any is exhausted."""


class LocalRateLimiter:
    """Buckets in this process: exact when it is the only gateway process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._clock = clock

    async def check(self, endpoint_id: str, limits: Iterable[RateLimit], caller: Caller) -> None:
        buckets = applicable_buckets(endpoint_id, limits, caller)
        if not buckets:
            return
        now = self._clock()
        held = [
            self._buckets.setdefault(key, TokenBucket.full(calls, now)) for key, calls in buckets
        ]
        if wait := take_all(held, now):
            raise _refuse(wait)


class SharedRateLimiter:
    """Buckets in the store, counted in one transaction per call: exact across the worker
    processes and gateways sharing the store. Costs a store round trip per call, and only
    on endpoints that have limits."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self.database = database
        self._clock = clock
        postgres = database.engine.dialect.name == "postgresql"
        self._insert = postgresql_insert if postgres else sqlite_insert

    async def check(self, endpoint_id: str, limits: Iterable[RateLimit], caller: Caller) -> None:
        buckets = applicable_buckets(endpoint_id, limits, caller)
        if not buckets:
            return
        if wait := await asyncio.to_thread(self._take, buckets, self._clock()):
            raise _refuse(wait)

    def _take(self, buckets: list[tuple[tuple[str, ...], int]], now: float) -> float:
        keys = dict(sorted((_digest(key), calls) for key, calls in buckets))  # one lock order
        with self.database.session() as session:
            session.execute(
                self._insert(RateBucketRow)
                .values(
                    [{"key": key, "tokens": calls, "updated": now} for key, calls in keys.items()]
                )
                .on_conflict_do_nothing(index_elements=["key"])
            )
            rows = session.scalars(
                select(RateBucketRow)
                .where(RateBucketRow.key.in_(keys))
                .order_by(RateBucketRow.key)
                .with_for_update()
            ).all()
            held = {
                row.key: TokenBucket(float(keys[row.key]), row.tokens, row.updated) for row in rows
            }
            wait = take_all([held[key] for key in keys], now)
            for row in rows:
                row.tokens, row.updated = held[row.key].tokens, held[row.key].updated
            return wait


def _digest(key: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(key).encode()).hexdigest()
