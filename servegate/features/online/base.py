"""The online store interface, and how a row's key becomes a storage key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from servegate.features.tables import FeatureRow, FeatureTable


class OnlineStoreUnavailable(Exception):
    """The online store could not be reached (a 503 for whoever asked)."""


def encode_key(key: Sequence[Any]) -> str:
    """A key's storage form: its typed values as JSON, so 1 and "1" stay different keys."""
    return orjson.dumps(list(key)).decode()


def encode_value(row: FeatureRow) -> bytes:
    return orjson.dumps({"t": row.event_time, "v": row.values})


class FeatureReader(Protocol):
    """What a feature join reads from: an online store, or a table's history."""

    def read(
        self, table: FeatureTable, keys: Sequence[Sequence[Any]], now: float
    ) -> list[dict[str, Any] | None]:
        """Each key's feature values at ``now``, or None when missing or expired, in one
        round trip."""

    def read_many(
        self, reads: Sequence[tuple[FeatureTable, Sequence[Sequence[Any]]]], now: float
    ) -> list[list[dict[str, Any] | None]]:
        """``read`` for several tables at once, still in one round trip."""


class OnlineStore(FeatureReader, Protocol):
    def write(self, table: FeatureTable, rows: list[FeatureRow]) -> int:
        """Store rows (a key's newer row replaces an older one, never the reverse);
        returns how many were stored."""

    def drop(self, table: FeatureTable) -> None:
        """Forget every value of the table."""

    def close(self) -> None: ...
