"""The Redis online store: one string per table and key, ``PREFIX ft:TABLE_ID:KEY``.

Reads are one MGET, whatever the number of keys. Expiry is Redis's own (``PXAT``), so an
expired value is simply gone. Rows of a table with a timestamp column go through a small
Lua script that keeps a key's newest row: an older row arriving late never replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import redis

from servegate.features.online.base import OnlineStoreUnavailable, encode_key, encode_value
from servegate.features.tables import FeatureRow, FeatureTable

# KEYS: the keys; ARGV: per key, its value, event time and expiry in ms (0: none).
_KEEP_NEWEST = """
local stored = 0
for i, key in ipairs(KEYS) do
  local value, time, expires = ARGV[3*i-2], tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  local current = redis.call('GET', key)
  if not current or cjson.decode(current)['t'] <= time then
    if expires > 0 then
      redis.call('SET', key, value, 'PXAT', expires)
    else
      redis.call('SET', key, value)
    end
    stored = stored + 1
  end
end
return stored
"""
_BATCH = 500
_SCAN = 1000


class RedisOnlineStore:
    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._keep_newest = self.client.register_script(_KEEP_NEWEST)

    def _key(self, table: FeatureTable, key: Sequence[Any]) -> str:
        return f"{self.prefix}ft:{table.id}:{encode_key(key)}"

    def write(self, table: FeatureTable, rows: list[FeatureRow]) -> int:
        stored = 0
        try:
            for start in range(0, len(rows), _BATCH):
                batch = rows[start : start + _BATCH]
                keys = [self._key(table, row.key) for row in batch]
                args: list[Any] = []
                for row in batch:
                    expires = int(row.expires_at * 1000) if row.expires_at else 0
                    args += [encode_value(row), repr(row.event_time), expires]
                stored += int(self._keep_newest(keys=keys, args=args))
        except redis.RedisError as error:
            raise OnlineStoreUnavailable(f"the Redis online store failed: {error}") from error
        return stored

    def read(
        self, table: FeatureTable, keys: Sequence[Sequence[Any]], now: float
    ) -> list[dict[str, Any] | None]:
        return self.read_many([(table, keys)], now)[0]

    def read_many(
        self, reads: Sequence[tuple[FeatureTable, Sequence[Sequence[Any]]]], now: float
    ) -> list[list[dict[str, Any] | None]]:
        names = [self._key(table, key) for table, keys in reads for key in keys]
        if not names:
            return [[] for _ in reads]
        try:
            values = iter(self.client.mget(names))
        except redis.RedisError as error:
            raise OnlineStoreUnavailable(f"the Redis online store failed: {error}") from error
        return [
            [
                orjson.loads(value)["v"] if (value := next(values)) is not None else None
                for _ in keys
            ]
            for _, keys in reads
        ]

    def drop(self, table: FeatureTable) -> None:
        pattern = f"{self.prefix}ft:{table.id}:*"
        try:
            batch = []
            for key in self.client.scan_iter(match=pattern, count=_SCAN):
                batch.append(key)
                if len(batch) >= _SCAN:
                    self.client.unlink(*batch)
                    batch = []
            if batch:
                self.client.unlink(*batch)
        except redis.RedisError as error:
            raise OnlineStoreUnavailable(f"the Redis online store failed: {error}") from error

    def close(self) -> None:
        self.client.close()
