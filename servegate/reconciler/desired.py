"""Which replicas the stored configs ask for: every served entity of the active config, and
of the pending config while its update is in progress."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from servegate.backends.base import ReplicaKey, ReplicaSpec
from servegate.endpoint_config import WORKLOAD_CONCURRENCY
from servegate.states import ConfigUpdate
from servegate.store.models import EndpointRow, ServedEntityRow


@dataclass(frozen=True)
class LiveEntity:
    key: ReplicaKey
    spec: ReplicaSpec
    pending_only: bool

    @staticmethod
    def key_for(endpoint: EndpointRow, row: ServedEntityRow) -> ReplicaKey:
        runtime = {"name": row.entity_name, "version": row.entity_version, **row.spec}
        digest = hashlib.sha256(orjson.dumps(runtime, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return ReplicaKey(endpoint.id, row.name, digest[:16])


def _spec(endpoint: EndpointRow, row: ServedEntityRow, key: ReplicaKey) -> ReplicaSpec:
    concurrency = row.spec.get("max_provisioned_concurrency") or WORKLOAD_CONCURRENCY.get(
        row.spec.get("workload_size", "Small"), 4
    )
    return ReplicaSpec(
        key=key,
        endpoint_name=endpoint.name,
        model_uri=f"models:/{row.entity_name}/{row.entity_version}",
        concurrency=concurrency,
        environment_vars=dict(row.spec.get("environment_vars") or {}),
    )


def live_entities(endpoints: list[EndpointRow]) -> list[LiveEntity]:
    live: dict[ReplicaKey, LiveEntity] = {}
    for endpoint in endpoints:
        in_progress = endpoint.config_update == ConfigUpdate.IN_PROGRESS.value
        for config in endpoint.configs:
            active = config.version == endpoint.active_version
            pending = in_progress and config.version == endpoint.pending_version
            if not (active or pending):
                continue
            for row in config.entities:
                key = LiveEntity.key_for(endpoint, row)
                if key in live and not live[key].pending_only:
                    continue
                live[key] = LiveEntity(key, _spec(endpoint, row, key), pending_only=not active)
    return list(live.values())
