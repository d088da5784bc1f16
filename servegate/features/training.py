"""Training sets: the join serving does, done offline from the feature tables' history.

The same ``FeatureJoiner`` runs as in a replica; only the store differs: instead of the
online store (each key's newest value, now), a reader over every row ever upserted answers
"the value at time T". With ``timestamp_key`` each training row gets its features as they
were at its own time (point-in-time correct: never a value from its future, never one past
its TTL); without, as they are now, which is what serving would look up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from servegate.features.join import FeatureJoiner
from servegate.features.online.base import encode_key
from servegate.features.spec import FeatureSpec
from servegate.features.tables import FeatureTable, key_of, table_from_json, utc

if TYPE_CHECKING:
    from servegate.client import ServegateClient


class HistoryReader:
    """Reads like an online store, as of any time, from the rows a table was given."""

    def __init__(self, history: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
        self.history = history  # table name → encoded key → rows, oldest first

    def read(
        self, table: FeatureTable, keys: Sequence[Sequence[Any]], now: float
    ) -> list[dict[str, Any] | None]:
        found: list[dict[str, Any] | None] = []
        rows_of_table = self.history.get(table.name, {})
        for key in keys:
            value = None
            for row in rows_of_table.get(encode_key(key), []):
                if row["event_time"] > now:
                    break
                live = row["expires_at"] is None or row["expires_at"] > now
                value = row["values"] if live else None
            found.append(value)
        return found

    def read_many(
        self, reads: Sequence[tuple[FeatureTable, Sequence[Sequence[Any]]]], now: float
    ) -> list[list[dict[str, Any] | None]]:
        return [self.read(table, keys, now) for table, keys in reads]


def build_training_set(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    *,
    client: ServegateClient,
    timestamp_key: str | None = None,
) -> pd.DataFrame:
    """``frame`` (keys, request-time columns, labels) with the spec's features joined and
    computed, exactly as an endpoint serving a model with ``spec`` would for the same rows."""
    tables = {
        lookup.table_name: table_from_json(client.feature_table(lookup.table_name))
        for lookup in spec.lookups
    }
    history: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for lookup in spec.lookups:
        table = tables[lookup.table_name]
        columns = lookup.key_columns(table)
        keys = {
            key_of(table, {key: row[column] for key, column in columns.items()})
            for row in frame[list(columns.values())].to_dict(orient="records")
        }
        wanted = [dict(zip(table.primary_keys, key, strict=True)) for key in keys]
        by_key = history.setdefault(table.name, {})
        for row in client.feature_history(table.name, wanted):
            by_key.setdefault(row["key"], []).append(row)
    joiner = FeatureJoiner(spec, tables, HistoryReader(history))
    if timestamp_key is None:
        return joiner.join(frame)
    parts = [
        joiner.join(rows, as_of=utc(when).timestamp())
        for when, rows in frame.groupby(timestamp_key, sort=False)
    ]
    return pd.concat(parts).loc[frame.index]
