"""Inference tables: what an endpoint's table is called, the rules for setting it, and the
shape of the records it holds.

An endpoint turns capture on with Databricks' ``auto_capture_config`` (part of each config
version) or ``ai_gateway.inference_table_config`` (applied at once); both take the same
fields and rules. servegate has no Unity Catalog: catalog, schema and prefix only name the
table (``catalog.schema.prefix_payload``). The records go to the sink the gateway is set up
with (``SERVEGATE_INFERENCE_TABLES``): the store's database, or Parquet files.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Protocol, TypedDict

from servegate.errors import InvalidParameterValue

NAME_FIELDS = ("catalog_name", "schema_name", "table_name_prefix")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass(frozen=True)
class InferenceTable:
    """An endpoint's inference table as stored; a disabled one keeps its names."""

    enabled: bool
    table_name_prefix: str
    catalog_name: str | None = None
    schema_name: str | None = None

    @property
    def payload_table(self) -> str | None:
        if self.catalog_name is None or self.schema_name is None:
            return None
        return f"{self.catalog_name}.{self.schema_name}.{self.table_name_prefix}_payload"

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_stored(cls, stored: object) -> InferenceTable | None:
        """The table kept in a config or AI gateway settings: None if there is none, or if
        it was stored before servegate checked these fields (it never captured)."""
        if not isinstance(stored, dict):
            return None
        if not isinstance(stored.get("enabled"), bool):
            return None
        if not isinstance(stored.get("table_name_prefix"), str):
            return None
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in stored.items() if key in known})


def settle(
    given: dict[str, Any], previous: InferenceTable | None, endpoint: str, where: str
) -> InferenceTable:
    """The table a request asks for: the fields it set (``given``) over ``previous``.

    A field left out keeps its previous value; ``enabled`` defaults to true and the prefix to
    the endpoint's name. Enabling needs a catalog and a schema. While a table is enabled, its
    names cannot change (as on Databricks, where the table already exists): disable it first.
    ``where`` names the field in errors, e.g. ``auto_capture_config``.
    """
    names = {name: getattr(previous, name) if previous else None for name in NAME_FIELDS}
    names.update({name: given[name] for name in NAME_FIELDS if given.get(name) is not None})
    names["table_name_prefix"] = names["table_name_prefix"] or endpoint
    enabled = given.get("enabled")
    table = InferenceTable(enabled=True if enabled is None else enabled, **names)
    for name in NAME_FIELDS:
        value = getattr(table, name)
        if value is None and table.enabled:
            raise InvalidParameterValue(f"{where}.{name} is required to enable an inference table.")
        if value is not None and not _NAME.match(value):
            raise InvalidParameterValue(
                f"{where}.{name} {value!r} is invalid: use 1 to 255 letters, digits, '_' or '-'."
            )
        changed = previous is not None and value != getattr(previous, name)
        if changed and previous.enabled and table.enabled:
            raise InvalidParameterValue(
                f"{where}.{name} cannot change while the inference table is enabled (it is "
                f"{getattr(previous, name)!r}); disable it first, then enable it anew."
            )
    return table


def table_in_use(
    auto_capture: InferenceTable | None, ai_gateway: dict[str, Any] | None
) -> InferenceTable | None:
    """The enabled table of an endpoint: its AI gateway's, else its config's (at most one
    is enabled, see ``check_one_table``)."""
    gateway = InferenceTable.from_stored((ai_gateway or {}).get("inference_table_config"))
    for table in (gateway, auto_capture):
        if table is not None and table.enabled:
            return table
    return None


def check_one_table(auto_capture: InferenceTable | None, ai_gateway: dict[str, Any] | None) -> None:
    gateway = InferenceTable.from_stored((ai_gateway or {}).get("inference_table_config"))
    if auto_capture and auto_capture.enabled and gateway and gateway.enabled:
        raise InvalidParameterValue(
            "An endpoint has one inference table: auto_capture_config and "
            "ai_gateway.inference_table_config cannot both be enabled; disable one of them."
        )


class InferenceRecord(TypedDict):
    """One request an endpoint answered, as its inference table keeps it (a plain dict: the
    writer makes thousands a second, off the request path but sharing its interpreter).

    ``request`` and ``response`` are the bodies as text; a body that is not UTF-8 text is
    kept as ``base64:`` and its Base64, and one over the size limit as None.
    """

    request_id: str
    client_request_id: str | None
    endpoint_id: str
    endpoint_name: str
    served_model_name: str | None
    model_name: str | None
    model_version: str | None
    timestamp_ms: int
    status_code: int
    execution_time_ms: float
    requester: str
    request: str | None
    response: str | None


COLUMNS = tuple(InferenceRecord.__annotations__)


@dataclass(frozen=True)
class RecordQuery:
    """Which records to read: newest (or oldest) first, at most ``limit``."""

    limit: int = 100
    since_ms: int | None = None  # timestamp_ms >= since_ms
    until_ms: int | None = None  # timestamp_ms < until_ms
    served_model: str | None = None
    order: Literal["newest", "oldest"] = "newest"


class RecordSink(Protocol):
    """Where inference records go: the store's database or Parquet files."""

    description: str  # where records go, for the endpoint's status message

    def write(self, endpoint_name: str, records: list[InferenceRecord]) -> None:
        """Write one endpoint's records (all or none); raise if they cannot be written."""

    def read(
        self, endpoint_id: str, endpoint_name: str, query: RecordQuery
    ) -> list[InferenceRecord]:
        """The endpoint's records matching ``query``."""
