"""The embedded online store: one SQLite file (WAL), one row per table and key."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from servegate.features.online.base import OnlineStoreUnavailable, encode_key, encode_value
from servegate.features.tables import FeatureRow, FeatureTable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_values (
    table_id TEXT NOT NULL,
    key TEXT NOT NULL,
    event_time REAL NOT NULL,
    expires_at REAL,
    value BLOB NOT NULL,
    PRIMARY KEY (table_id, key)
) WITHOUT ROWID
"""
_UPSERT = """
INSERT INTO feature_values (table_id, key, event_time, expires_at, value)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (table_id, key) DO UPDATE SET
    event_time = excluded.event_time, expires_at = excluded.expires_at, value = excluded.value
WHERE excluded.event_time >= feature_values.event_time
"""
_MAX_VARIABLES = 900  # below SQLite's limit on bound parameters


class SqliteOnlineStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        with self._connection() as connection:
            connection.execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections stay in the thread that made them)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection

    def write(self, table: FeatureTable, rows: list[FeatureRow]) -> int:
        records = [
            (table.id, encode_key(row.key), row.event_time, row.expires_at, encode_value(row))
            for row in rows
        ]
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
            before = connection.total_changes
            connection.executemany(_UPSERT, records)
            stored = connection.total_changes - before
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise OnlineStoreUnavailable(f"the SQLite online store failed: {error}") from error
        return stored

    def read(
        self, table: FeatureTable, keys: Sequence[Sequence[Any]], now: float
    ) -> list[dict[str, Any] | None]:
        return self.read_many([(table, keys)], now)[0]

    def read_many(
        self, reads: Sequence[tuple[FeatureTable, Sequence[Sequence[Any]]]], now: float
    ) -> list[list[dict[str, Any] | None]]:
        """One query for every table and key (more only past SQLite's parameter limit)."""
        wanted = [(table.id, encode_key(key)) for table, keys in reads for key in keys]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        connection = self._connection()
        for start in range(0, len(wanted), _MAX_VARIABLES // 2):
            chunk = wanted[start : start + _MAX_VARIABLES // 2]
            pairs = ",".join(["(?, ?)"] * len(chunk))
            query = (
                "SELECT table_id, key, value FROM feature_values WHERE (table_id, key) IN "
                f"(VALUES {pairs}) AND (expires_at IS NULL OR expires_at > ?)"
            )
            flat = [part for pair in chunk for part in pair]
            try:
                for table_id, key, value in connection.execute(query, (*flat, now)):
                    found[(table_id, key)] = orjson.loads(value)["v"]
            except sqlite3.Error as error:
                raise OnlineStoreUnavailable(f"the SQLite online store failed: {error}") from error
        values = iter(wanted)
        return [[found.get(next(values)) for _ in keys] for _, keys in reads]

    def drop(self, table: FeatureTable) -> None:
        self._connection().execute("DELETE FROM feature_values WHERE table_id = ?", (table.id,))

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
