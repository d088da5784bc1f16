import asyncio

import pytest

from servegate.auth.access import Caller
from servegate.errors import RequestLimitExceeded
from servegate.gateway.rate_limits import (
    LocalRateLimiter,
    RateLimit,
    TokenBucket,
    applicable_buckets,
)

ANA = Caller("u1", "ana", "user", group_names=frozenset({"scorers"}))
BOB = Caller("u2", "bob", "user")
ROBOT = Caller("s1", "robot", "service_principal")


def test_bucket_allows_capacity_then_refills_at_calls_per_minute() -> None:
    bucket = TokenBucket.full(60, now=0.0)
    assert all(bucket.take(0.0) == 0.0 for _ in range(60))
    assert bucket.take(0.0) == pytest.approx(1.0)  # one call per second comes back
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(1.0) == 0.0


def test_which_limits_count_a_call() -> None:
    limits = [
        RateLimit(100),
        RateLimit(10, "user"),
        RateLimit(5, "user", "bob"),
        RateLimit(7, "user_group", "scorers"),
        RateLimit(3, "service_principal"),
    ]
    keys = lambda caller: sorted(k[1] for k, _ in applicable_buckets("e", limits, caller))  # noqa: E731
    assert keys(ANA) == ["endpoint", "user", "user_group"]
    assert keys(BOB) == ["endpoint", "user", "user"]
    assert keys(ROBOT) == ["endpoint", "service_principal"]


def test_limiter_refuses_with_retry_after_and_refunds_other_buckets() -> None:
    limiter = LocalRateLimiter(clock=lambda: 0.0)
    check = lambda *args: asyncio.run(limiter.check(*args))  # noqa: E731
    limits = [RateLimit(100), RateLimit(2, "user")]
    check("e", limits, ANA)
    check("e", limits, ANA)
    with pytest.raises(RequestLimitExceeded) as refused:
        check("e", limits, ANA)
    assert refused.value.headers()["Retry-After"] == "30"
    check("e", limits, BOB)  # another user has a bucket of their own
    for _ in range(97):
        check("e", [RateLimit(100)], BOB)
    with pytest.raises(RequestLimitExceeded):
        check("e", [RateLimit(100)], BOB)
