"""Rate limits kept in the store are exact across processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import multiprocessing

import pytest

from servegate.auth.access import Caller
from servegate.errors import RequestLimitExceeded
from servegate.gateway.rate_limits import RateLimit, SharedRateLimiter
from servegate.store.database import Database

ANA = Caller("u1", "ana", "user")
LIMITS = [RateLimit(40), RateLimit(25, "user")]


def _frozen_clock() -> float:
    return 1_000_000.0  # no refill while the processes race: the count must be exact


def _hammer(url: str, calls: int, allowed: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    database = Database(url)
    limiter = SharedRateLimiter(database, clock=_frozen_clock)

    async def run() -> int:
        passed = 0
        for _ in range(calls):
            try:
                await limiter.check("endpoint-1", LIMITS, ANA)
                passed += 1
            except RequestLimitExceeded:
                pass
        return passed

    allowed.put(asyncio.run(run()))
    database.dispose()


def test_shared_buckets_are_exact_across_processes(database: Database) -> None:
    context = multiprocessing.get_context("spawn")
    allowed: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [context.Process(target=_hammer, args=(database.url, 30, allowed)) for _ in range(4)]
    for worker in workers:
        worker.start()
    counts = [allowed.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert sum(counts) == 25, counts  # the tighter (per-user) limit, exactly


def test_refused_call_consumes_nothing(database: Database) -> None:
    limiter = SharedRateLimiter(database, clock=_frozen_clock)
    check = lambda limits, caller: asyncio.run(limiter.check("e", limits, caller))  # noqa: E731
    for _ in range(2):
        check([RateLimit(5), RateLimit(2, "user")], ANA)
    with pytest.raises(RequestLimitExceeded) as refused:
        check([RateLimit(5), RateLimit(2, "user")], ANA)
    assert refused.value.headers()["Retry-After"] == "30"
    bob = Caller("u2", "bob", "user")
    for _ in range(3):  # the endpoint bucket still holds 3: ana's refused call took none
        check([RateLimit(5)], bob)
    with pytest.raises(RequestLimitExceeded):
        check([RateLimit(5)], bob)
