"""A real gateway with a registered model, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess

CHROMIUM = Path("/usr/bin/chromium")
MODEL = "bc-logreg-ui"
TWO_VERSIONS = "ui-churn"


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("ui-home")).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def registered(gateway: GatewayProcess) -> Registered:
    return register_into(gateway, lambda: models.register_sklearn(MODEL))


@pytest.fixture(scope="session")
def two_versions(gateway: GatewayProcess) -> list[Registered]:
    """Two versions of one model: version 2 in Production, version 1 the @champion."""
    versions = [
        register_into(gateway, lambda: models.register_sklearn(TWO_VERSIONS, c=1.0)),
        register_into(gateway, lambda: models.register_sklearn(TWO_VERSIONS, c=0.01)),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_TOKEN", gateway.token)
        registry = MlflowClient(tracking_uri=gateway.url, registry_uri=gateway.url)
        registry.transition_model_version_stage(TWO_VERSIONS, "2", "Production")
        registry.set_registered_model_alias(TWO_VERSIONS, "champion", "1")
    return versions


@pytest.fixture(scope="module")  # stopped after each module: Playwright's loop would stay running
def browser() -> Iterator[Browser]:
    """The system's Chromium: Playwright never downloads a browser here, and a missing one
    fails the run (``apt-get install chromium``), never skips it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package to run UI tests.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, gateway: GatewayProcess) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=gateway.url, viewport={"width": 1280, "height": 900})
    made.set_default_timeout(30_000)
    yield made
    made.close()


def sign_in(page: Page, token: str) -> None:
    page.goto("/ui/")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def split_body(frame: pd.DataFrame) -> dict[str, Any]:
    """A ``dataframe_split`` request of these rows."""
    return {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}


@pytest.fixture
def admin_page(context: BrowserContext, gateway: GatewayProcess) -> Page:
    page = context.new_page()
    sign_in(page, gateway.token)
    page.wait_for_url("**/ui/")
    return page


@pytest.fixture(scope="session")
def screenshots() -> Path | None:
    """Where to keep screenshots of the main pages (``scripts/ui-screenshots`` sets it)."""
    folder = os.environ.get("SERVEGATE_UI_SCREENSHOTS")
    return Path(folder) if folder else None


def shot(page: Page, folder: Path | None, name: str, full: bool = True) -> None:
    """Keep a screenshot of the page as ``docs/ui/NAME.png`` when asked to."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full)


def fits_the_width(page: Page) -> bool:
    """Nothing makes the page scroll sideways."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
