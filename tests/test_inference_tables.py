"""The rules of an inference table's config, shared by both of its forms."""

from __future__ import annotations

import pytest

from servegate.errors import InvalidParameterValue
from servegate.inference_tables import InferenceTable, check_one_table, settle, table_in_use

ON = InferenceTable(True, "shop", "main", "serving")


def test_defaults_and_names() -> None:
    table = settle({"catalog_name": "main", "schema_name": "serving"}, None, "shop", "where")
    assert table == ON, "enabled, and the prefix is the endpoint's name"
    assert table.payload_table == "main.serving.shop_payload"
    assert InferenceTable.from_stored(table.to_dict()) == table
    off = settle({"enabled": False}, None, "shop", "where")
    assert off == InferenceTable(False, "shop") and off.payload_table is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"enabled": True}, "where.catalog_name is required"),
        ({"catalog_name": "main"}, "where.schema_name is required"),
        ({"catalog_name": "a.b", "schema_name": "s"}, "where.catalog_name 'a.b' is invalid"),
        ({"catalog_name": "c", "schema_name": "s", "table_name_prefix": ""}, None),
        ({"catalog_name": "c", "schema_name": "s", "table_name_prefix": "x y"}, "prefix 'x y'"),
    ],
)
def test_refused(given: dict, message: str | None) -> None:
    if message is None:  # an empty prefix means the default
        assert settle(given, None, "shop", "where").table_name_prefix == "shop"
        return
    with pytest.raises(InvalidParameterValue, match=message):
        settle(given, None, "shop", "where")


def test_names_are_fixed_while_enabled() -> None:
    with pytest.raises(InvalidParameterValue, match="where.schema_name cannot change"):
        settle({"schema_name": "other"}, ON, "shop", "where")
    assert settle({}, ON, "shop", "where") == ON, "left out: kept"
    off = settle({"enabled": False, "schema_name": "other"}, ON, "shop", "where")
    assert off == InferenceTable(False, "shop", "main", "other"), "disabling may move it"
    again = settle({"catalog_name": "lake"}, off, "shop", "where")
    assert again == InferenceTable(True, "shop", "lake", "other"), "enabled anew, elsewhere"


def test_one_table_at_most() -> None:
    gateway_on = {"inference_table_config": ON.to_dict(), "rate_limits": []}
    with pytest.raises(InvalidParameterValue, match="cannot both be enabled"):
        check_one_table(ON, gateway_on)
    check_one_table(InferenceTable(False, "shop"), gateway_on)
    assert table_in_use(InferenceTable(False, "shop"), gateway_on) == ON
    assert table_in_use(ON, None) == ON
    assert table_in_use(None, {"rate_limits": []}) is None


def test_tables_stored_before_the_rules_are_ignored() -> None:
    for stored in (None, "on", {"catalog_name": "x", "enabled": True}, {"enabled": "yes"}):
        assert InferenceTable.from_stored(stored) is None
