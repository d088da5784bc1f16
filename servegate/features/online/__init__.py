"""Online stores: where feature values live for lookups at request time (SQLite, Redis)."""

from __future__ import annotations

from pathlib import Path

from servegate.features.online.base import OnlineStore


def open_online_store(url: str, prefix: str = "servegate:") -> OnlineStore:
    """The online store at ``url``: ``sqlite:///PATH`` or ``redis://HOST:PORT/DB``
    (``rediss://`` for TLS). ``prefix`` starts every Redis key."""
    if url.startswith("sqlite:///"):
        from servegate.features.online.sqlite import SqliteOnlineStore

        return SqliteOnlineStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("redis://", "rediss://", "unix://")):
        from servegate.features.online.redis import RedisOnlineStore

        return RedisOnlineStore(url, prefix)
    raise ValueError(f"Unsupported online store {url!r}: use sqlite:///PATH or redis://HOST:PORT")


__all__ = ["OnlineStore", "open_online_store"]
