"""Online stores for real: SQLite in a temp dir, and Redis on 127.0.0.1:6379 under a key
prefix of the test's own, removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from servegate.features.online import OnlineStore, open_online_store

REDIS_URL = "redis://127.0.0.1:6379/0"


def clean_redis(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.unlink(*keys)
    client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"servegate-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    clean_redis(prefix)


@pytest.fixture(params=["sqlite", "redis"])
def online_store(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    else:
        store = open_online_store(REDIS_URL, redis_prefix)
    yield store
    store.close()
