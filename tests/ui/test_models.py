"""The registered models page: versions, stages and aliases; per-model serving switched on
from the page and queried at its stage URL; "Serve this version" opens the form prefilled."""

from __future__ import annotations

import re
import time
from pathlib import Path

import requests
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess
from tests.ui.conftest import TWO_VERSIONS, shot, split_body


def test_models_versions_and_per_model_serving(
    admin_page: Page,
    gateway: GatewayProcess,
    two_versions: list[Registered],
    screenshots: Path | None,
) -> None:
    page = admin_page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    expect(page.get_by_role("heading", name="Registered models")).to_be_visible()

    search = page.get_by_label("Search models")
    search.fill("no-such-model")
    expect(page.locator("#model-results")).to_contain_text("No registered model's name contains")
    search.fill("churn")
    expect(page).to_have_url("/ui/models?q=churn", ignore_case=True)
    row = page.locator("#model-table tbody tr", has_text=TWO_VERSIONS)
    expect(row).to_contain_text("v2 Production")
    expect(row).to_contain_text("v1 @champion")
    expect(row).to_contain_text("Off")
    search.fill("")
    expect(page.locator("#model-results")).not_to_contain_text("matching")
    shot(page, screenshots, "models")

    page.get_by_role("link", name=TWO_VERSIONS).click()
    versions = page.get_by_role("table", name="Versions")
    expect(versions.get_by_role("row", name="Version 2")).to_contain_text("Production")
    expect(versions.get_by_role("row", name="Version 1")).to_contain_text("@champion")

    # The switch, with the keyboard: per-model serving starts every version.
    switch = page.get_by_role("switch", name="Per-model serving")
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.focus()
    page.keyboard.press("Enter")
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.get_by_test_id("serving-state")).to_have_text("Ready", timeout=120_000)
    production = f"{gateway.url}/model/{TWO_VERSIONS}/Production/invocations"
    urls = page.get_by_role("table", name="Per-model serving URLs")

    def serving(reference: str) -> Locator:
        return urls.locator("tr", has=page.get_by_role("rowheader", name=reference, exact=True))

    expect(serving("Production")).to_contain_text(production)
    expect(serving("@champion")).to_contain_text("Version 1")
    expect(serving("Default")).to_contain_text("Version 2")
    body = split_body(two_versions[1].sample.head(3))
    answer = requests.post(production, headers=gateway.headers, json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["served-model-name"] == f"{TWO_VERSIONS}-2"
    assert len(answer.json()["predictions"]) == 3
    shot(page, screenshots, "model")

    # Off again (after a confirmation): the URLs stop answering.
    page.once("dialog", lambda dialog: dialog.accept())
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    deadline = time.monotonic() + 30  # the gateway's routes follow within a pass or two
    while (gone := requests.post(production, headers=gateway.headers, json=body, timeout=60)).ok:
        assert time.monotonic() < deadline, "still served after serving was switched off"
        time.sleep(0.2)
    assert gone.status_code == 404, gone.text

    # "Serve this version" opens the create form with that version filled in.
    page.get_by_role("link", name=re.compile(r"^Serve this version\s+for version 1$")).click()
    expect(page.get_by_label("Endpoint name")).to_have_value(TWO_VERSIONS)
    expect(page.get_by_label("Registered model")).to_have_value(TWO_VERSIONS)
    version = page.get_by_label("Version, stage or alias")
    expect(version.locator("option").first).to_have_text("Version 2 · Production")
    expect(version).to_have_value("1")
