"""The feature browser: tables with their keys, timestamp and TTL, a key looked up, specs."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.gateway_process import GatewayProcess
from tests.ui.conftest import shot

TABLE = "ui_customers"


def _define(gateway: GatewayProcess) -> None:
    table = {
        "name": TABLE,
        "primary_keys": ["customer_id"],
        "schema": [
            {"name": "customer_id", "type": "long"},
            {"name": "spend_30d", "type": "double"},
            {"name": "orders", "type": "integer"},
            {"name": "updated", "type": "timestamp"},
        ],
        "timestamp_key": "updated",
        "ttl_seconds": 7 * 86400,
        "description": "What each customer spent lately.",
    }
    made = gateway.api("POST", "/api/2.0/feature-tables", json=table)
    assert made.status_code == 200, made.text
    rows = [
        {"customer_id": 7, "spend_30d": 12.5, "orders": 3, "updated": "2100-01-01T00:00:00Z"},
        {"customer_id": 8, "spend_30d": 0.0, "orders": 0, "updated": "2100-01-01T00:00:00Z"},
    ]
    filled = gateway.api(
        "POST", f"/api/2.0/feature-tables/{TABLE}/rows", json={"dataframe_records": rows}
    )
    assert filled.status_code == 200, filled.text
    lookup = {
        "table_name": TABLE,
        "lookup_key": "customer_id",
        "feature_names": ["spend_30d", "orders"],
        "rename_outputs": {},
        "on_missing": "null",
    }
    spec = {"name": "ui-customer-features", "spec": {"lookups": [lookup], "functions": []}}
    stored = gateway.api("POST", "/api/2.0/feature-specs", json=spec)
    assert stored.status_code == 200, stored.text


def test_tables_specs_and_a_lookup(
    admin_page: Page, gateway: GatewayProcess, screenshots: Path | None
) -> None:
    _define(gateway)
    page = admin_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Features").click()
    row = page.get_by_role("table", name="Feature tables").get_by_role("row", name=TABLE)
    expect(row).to_contain_text("customer_id")
    expect(row).to_contain_text("updated")
    expect(row).to_contain_text("7 d")
    spec = page.get_by_role("table", name="Feature specs").get_by_role("row", name="ui-customer")
    expect(spec).to_contain_text(f"{TABLE}: spend_30d, orders")
    shot(page, screenshots, "features")

    row.get_by_role("link", name=TABLE).click()
    schema = page.get_by_role("table", name="Schema")
    expect(schema.get_by_role("row", name="customer_id")).to_contain_text("primary key")
    expect(schema.get_by_role("row", name="updated")).to_contain_text("timestamp")
    expect(schema.get_by_role("row", name="orders")).to_contain_text("integer")

    key = page.get_by_label("customer_id")
    key.fill("7")
    key.press("Enter")
    result = page.get_by_test_id("lookup-result")
    expect(result.get_by_role("row", name="spend_30d")).to_contain_text("12.5")
    expect(result.get_by_role("row", name="orders")).to_contain_text("3")
    shot(page, screenshots, "feature-table")

    page.get_by_label("customer_id").fill("404")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_test_id("lookup-result")).to_have_text(
        "No value for this key (never written, or older than the TTL)."
    )
    page.get_by_label("customer_id").fill("seven")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#key-customer_id-error")).to_contain_text("customer_id")
    expect(page.get_by_label("customer_id")).to_have_attribute("aria-invalid", "true")
