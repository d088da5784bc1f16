"""A user creates an endpoint with the form, watches it become ready, queries it from the
panel, runs the code the panel shows, and sees traffic charted."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess
from tests.ui.conftest import shot

ENDPOINT = "ui-flow"


def _run(code: str, token: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DATABRICKS_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_create_query_and_chart(
    admin_page: Page,
    gateway: GatewayProcess,
    registered: Registered,
    screenshots: Path | None,
) -> None:
    page = admin_page
    page.get_by_role("link", name="Create endpoint").first.click()

    # Every control is labelled, and the form is filled and sent with the keyboard alone.
    for label in (
        "Endpoint name",
        "Registered model",
        "Version, stage or alias",
        "Served model name (optional)",
        "Workload size",
        "Traffic %",
        "Scale to zero when idle",
    ):
        expect(page.get_by_label(label, exact=False).first).to_be_visible()
    expect(page.get_by_label("Endpoint name")).to_be_focused()
    page.keyboard.type(ENDPOINT)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Registered model")).to_be_focused()
    page.keyboard.type(registered.name)
    page.keyboard.press("Tab")  # leaving the field loads its versions into the next one
    version = page.get_by_label("Version, stage or alias")
    expect(version).to_be_focused()
    expect(version.locator("option").first).to_have_text(f"Version {registered.version}")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Served model name (optional)")).to_be_focused()
    shot(page, screenshots, "create")
    page.keyboard.press("Enter")

    page.wait_for_url(f"**/ui/endpoints/{ENDPOINT}")
    expect(page.get_by_test_id("endpoint-state")).to_have_text("Ready", timeout=120_000)
    served = f"{registered.name}-{registered.version}"
    expect(page.locator("table.served")).to_contain_text(served)

    # The query panel: prefilled from the input example, answered by the served model.
    page.get_by_role("link", name="Query").click()
    body = json.loads(page.get_by_label("Request body (JSON)").input_value())
    assert "dataframe_split" in body
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#response-status")).to_have_text("200 OK")
    expect(page.locator("#response-served")).to_have_text(served)
    expect(page.locator("#response-latency")).to_contain_text("ms")
    predictions = json.loads(page.locator("#response-body").text_content())["predictions"]
    assert len(predictions) == len(body["dataframe_split"]["data"])

    # The code it shows, copied and run as it stands, gives the same predictions.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Show code").click()
    python = page.locator("#snippet-python")
    expect(python).to_contain_text(f"{gateway.url}/serving-endpoints/{ENDPOINT}/invocations")
    page.get_by_role("button", name="Copy").nth(1).click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == python.text_content()
    answered_by, _, printed = _run(copied, gateway.token).partition(" ")
    assert answered_by == served
    assert ast.literal_eval(printed)["predictions"] == predictions
    sdk = page.locator("#snippet-sdk").text_content()
    assert ast.literal_eval(_run(sdk, gateway.token)) == predictions
    shot(page, screenshots, "query")

    # Traffic shows up in the charts of the overview.
    page.get_by_role("link", name="Overview").click()
    url = f"{gateway.url}/serving-endpoints/{ENDPOINT}/invocations"
    for _ in range(40):
        answer = requests.post(url, headers=gateway.headers, json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        time.sleep(0.1)
    rps = page.locator('[data-chart="rps"]')
    expect(rps.locator("canvas")).to_have_count(1, timeout=15_000)
    expect(page.locator(".charts canvas")).to_have_count(3)
    page.wait_for_function(
        """() => {
            const el = document.querySelector('[data-chart="rps"]');
            return el && Number(el.dataset.points) >= 3
                && JSON.parse(el.dataset.last).some((v) => v > 0);
        }""",
        timeout=20_000,
    )
    shot(page, screenshots, "endpoint")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Endpoints").click()
    row = page.locator("#endpoint-table tbody tr", has_text=ENDPOINT)
    expect(row).to_contain_text("Ready")
    expect(row.get_by_role("img")).to_have_attribute("aria-label", f"Traffic: {served} 100%")
    page.get_by_label("Filter").fill("no-such-endpoint")
    expect(row).to_be_hidden()
    page.get_by_label("Filter").fill("")
    shot(page, screenshots, "endpoints")
