"""Feature specs: which features a model looks up, and which it computes, at request time.

A spec travels with a model version, in its MLmodel metadata (``servegate.features.log_model``
puts it there), so any endpoint serving that version joins features with no configuration.
On-demand functions are stored by value (cloudpickle), as MLflow stores Python models.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from servegate.errors import InvalidParameterValue
from servegate.features.tables import FeatureTable

METADATA_KEY = "servegate_feature_spec"
ON_MISSING = ("null", "error")


@dataclass(frozen=True)
class FeatureLookup:
    """Join ``table_name`` on ``lookup_key``: the request column of each primary key, as a
    name or list (matched to the table's keys in order) or a mapping {table key: column}.
    ``feature_names``: which features (default all); ``rename_outputs``: {feature: column};
    ``on_missing``: a key the table lacks gives nulls ("null") or a 400 naming it ("error")."""

    table_name: str
    lookup_key: str | Sequence[str] | Mapping[str, str]
    feature_names: Sequence[str] | None = None
    rename_outputs: Mapping[str, str] = field(default_factory=dict)
    on_missing: str = "null"

    def key_columns(self, table: FeatureTable) -> dict[str, str]:
        """{table key: request column}."""
        if isinstance(self.lookup_key, Mapping):
            return dict(self.lookup_key)
        columns = [self.lookup_key] if isinstance(self.lookup_key, str) else list(self.lookup_key)
        return dict(zip(table.primary_keys, columns, strict=False))

    def outputs(self, table: FeatureTable) -> dict[str, str]:
        """{feature: output column}."""
        names = list(self.feature_names) if self.feature_names else table.features
        return {name: self.rename_outputs.get(name, name) for name in names}


@dataclass(frozen=True)
class FeatureFunction:
    """An on-demand feature: ``function(**{param: value of column})`` for each row, into
    ``output_name``; columns may be request columns or looked-up features."""

    function: Callable[..., Any]
    input_bindings: Mapping[str, str]
    output_name: str


@dataclass(frozen=True)
class FeatureSpec:
    lookups: tuple[FeatureLookup, ...] = ()
    functions: tuple[FeatureFunction, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "lookups": [
                {
                    "table_name": lookup.table_name,
                    "lookup_key": lookup.lookup_key
                    if isinstance(lookup.lookup_key, (str, Mapping))
                    else list(lookup.lookup_key),
                    "feature_names": list(lookup.feature_names) if lookup.feature_names else None,
                    "rename_outputs": dict(lookup.rename_outputs),
                    "on_missing": lookup.on_missing,
                }
                for lookup in self.lookups
            ],
            "functions": [
                {
                    "name": getattr(function.function, "__name__", "function"),
                    "code": base64.b64encode(cloudpickle.dumps(function.function)).decode(),
                    "input_bindings": dict(function.input_bindings),
                    "output_name": function.output_name,
                }
                for function in self.functions
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """The spec, its functions unpickled: only where the model's own code runs (the
        replica), never in the gateway (see ``lookups_of``)."""
        return cls(
            lookups_of(data),
            tuple(
                FeatureFunction(
                    cloudpickle.loads(base64.b64decode(item["code"])),
                    item["input_bindings"],
                    item["output_name"],
                )
                for item in data.get("functions", [])
            ),
        )


def lookups_of(data: Mapping[str, Any]) -> tuple[FeatureLookup, ...]:
    """A stored spec's lookups, without touching its (pickled) functions."""
    return tuple(
        FeatureLookup(
            item["table_name"],
            item["lookup_key"],
            item.get("feature_names"),
            item.get("rename_outputs") or {},
            item.get("on_missing", "null"),
        )
        for item in data.get("lookups", [])
    )


def check_lookups(lookups: Sequence[FeatureLookup], tables: Mapping[str, FeatureTable]) -> None:
    """400 naming an unknown table or feature, or a key that does not fit its table."""
    for lookup in lookups:
        table = tables.get(lookup.table_name)
        if table is None:
            raise InvalidParameterValue(
                f"The feature spec looks up table '{lookup.table_name}', which does not exist."
            )
        keys = lookup.key_columns(table)
        if sorted(keys) != sorted(table.primary_keys):
            raise InvalidParameterValue(
                f"The lookup of '{table.name}' gives key columns for {sorted(keys)}; the "
                f"table's primary keys are {list(table.primary_keys)}."
            )
        unknown = [name for name in lookup.outputs(table) if name not in table.features]
        if unknown:
            raise InvalidParameterValue(
                f"Table '{table.name}' has no feature(s) {', '.join(unknown)}."
            )
        if lookup.on_missing not in ON_MISSING:
            raise InvalidParameterValue(
                f"on_missing is {lookup.on_missing!r}; use one of {', '.join(ON_MISSING)}."
            )
