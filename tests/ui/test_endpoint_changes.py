"""Changing an endpoint from its pages: the query body follows the served model picked, the
traffic split is edited in the form, permissions are granted and revoked; and the list and
an endpoint's overview fit a phone."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess
from tests.ui.conftest import TWO_VERSIONS, fits_the_width, shot, sign_in, split_body

ENDPOINT = "ui-split"
FIRST, SECOND = f"{TWO_VERSIONS}-1", f"{TWO_VERSIONS}-2"


@pytest.fixture(scope="module")
def split(gateway: GatewayProcess, two_versions: list[Registered]) -> list[Registered]:
    """An endpoint of both versions, 40% to the first and 60% to the second."""
    gateway.create(
        ENDPOINT,
        [version.entity(f"{TWO_VERSIONS}-{version.version}") for version in two_versions],
        [
            {"served_model_name": FIRST, "traffic_percentage": 40},
            {"served_model_name": SECOND, "traffic_percentage": 60},
        ],
    )
    return two_versions


def test_the_query_body_follows_the_served_model_picked(
    admin_page: Page, split: list[Registered]
) -> None:
    page = admin_page
    page.goto(f"/ui/endpoints/{ENDPOINT}/query")
    source = page.locator("#body-source")
    expect(source).to_have_text("Prefilled from the input example logged with version 2.")
    page.get_by_label("Send to").select_option(label=f"Served model {FIRST} only")
    expect(source).to_have_text("Prefilled from the input example logged with version 1.")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#response-served")).to_have_text(FIRST)

    # An edited body is kept; the example is a click away.
    body = page.get_by_label("Request body (JSON)")
    body.fill('{"dataframe_records": []}')
    page.get_by_label("Send to").select_option(label=f"Served model {SECOND} only")
    expect(source).to_have_text("Your edited body is kept.")
    expect(body).to_have_value('{"dataframe_records": []}')
    page.get_by_role("button", name=f"Use {SECOND}'s example").click()
    expect(source).to_have_text("Prefilled from the input example logged with version 2.")
    assert "dataframe_split" in body.input_value()


def test_edit_the_traffic_split(admin_page: Page, split: list[Registered]) -> None:
    page = admin_page
    page.goto(f"/ui/endpoints/{ENDPOINT}")
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Endpoint name")).to_have_value(ENDPOINT)
    traffic = page.get_by_label("Traffic %")
    expect(traffic.nth(0)).to_have_value("40")
    expect(traffic.nth(1)).to_have_value("60")
    traffic.nth(0).fill("90")
    expect(page.locator("#traffic-sum")).to_have_text(
        "Traffic adds up to 150%; it must add up to 100%."
    )
    traffic.nth(1).fill("10")
    expect(page.locator("#traffic-sum")).to_have_text("Traffic adds up to 100%.")
    page.get_by_role("button", name="Update endpoint").click()

    page.wait_for_url(f"**/ui/endpoints/{ENDPOINT}")
    expect(page.get_by_test_id("endpoint-state")).to_have_text("Ready", timeout=120_000)
    expect(page.get_by_role("heading", name="Served models")).to_contain_text("config 2")
    expect(page.locator(".pending")).to_have_count(0)
    expect(page.get_by_role("img", name="Traffic")).to_have_attribute(
        "aria-label", f"Traffic: {FIRST} 90%, {SECOND} 10%"
    )
    page.get_by_role("link", name="Events").click()
    expect(page.locator("table")).to_contain_text("CONFIG_UPDATED")


def test_grant_and_revoke_query_permission(
    admin_page: Page,
    browser: Browser,
    gateway: GatewayProcess,
    split: list[Registered],
    screenshots: Path | None,
) -> None:
    gateway.create_user("bo@example.com")
    token, _ = gateway.token_for("bo@example.com")
    url = f"{gateway.url}/serving-endpoints/{ENDPOINT}/invocations"
    body = split_body(split[0].sample.head(2))

    def bo_queries() -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.post(url, headers=headers, json=body, timeout=60).status_code

    assert bo_queries() == 403
    page = admin_page
    page.goto(f"/ui/endpoints/{ENDPOINT}/permissions")
    name = page.get_by_label("Name")
    name.fill("nobody@example.com")
    page.get_by_role("button", name="Grant").click()
    expect(page.locator("#principal-error")).to_have_text("No user named 'nobody@example.com'.")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Name").fill("bo@example.com")
    page.get_by_label("Permission", exact=True).select_option("CAN_QUERY")
    page.get_by_role("button", name="Grant").click()
    expect(page.get_by_role("status")).to_have_text("Granted CAN_QUERY to user bo@example.com.")
    row = page.get_by_role("row", name="bo@example.com")
    expect(row).to_contain_text("CAN_QUERY")
    assert bo_queries() == 200
    shot(page, screenshots, "permissions")

    # Bo may query, and sees who may do what, but is offered no changes.
    context = browser.new_context(base_url=gateway.url)
    try:
        bo = context.new_page()
        sign_in(bo, token)
        bo.goto(f"/ui/endpoints/{ENDPOINT}/permissions")
        expect(bo.get_by_role("row", name="bo@example.com")).to_contain_text("CAN_QUERY")
        expect(bo.get_by_role("button", name="Grant")).to_have_count(0)
        expect(bo.get_by_role("button", name="Revoke")).to_have_count(0)
    finally:
        context.close()

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke CAN_QUERY from user bo@example.com").click()
    expect(page.get_by_role("status")).to_have_text(
        "Revoked the permissions of user bo@example.com."
    )
    expect(page.get_by_role("row", name="bo@example.com")).to_have_count(0)
    assert bo_queries() == 403


def test_the_list_and_an_endpoint_fit_a_phone(
    admin_page: Page, split: list[Registered], screenshots: Path | None
) -> None:
    page = admin_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/ui/")
    card = page.locator("#endpoint-table tbody tr", has_text=ENDPOINT)
    expect(card).to_contain_text("Ready")
    assert fits_the_width(page)
    shot(page, screenshots, "endpoints-phone", full=False)
    page.get_by_role("link", name=ENDPOINT).click()
    expect(page.locator("table.served")).to_contain_text(SECOND)
    expect(page.locator(".charts canvas")).to_have_count(3)
    page.wait_for_function(
        "Number(document.querySelector('[data-chart=\"rps\"]').dataset.points) >= 2"
    )
    assert fits_the_width(page)
    shot(page, screenshots, "endpoint-phone")
    for path in ("/ui/models", f"/ui/models/{TWO_VERSIONS}", "/ui/features"):
        page.goto(path)
        assert fits_the_width(page), path
