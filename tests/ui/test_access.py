"""The UI lets in only valid tokens, and shows each user only what their token may see."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess
from tests.ui.conftest import sign_in

ENDPOINT = "ui-private"


def test_a_wrong_token_is_refused(context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, "not-a-token")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.goto("/ui/")
    expect(page).to_have_url("/ui/sign-in?next=/ui/", ignore_case=True)


def test_a_user_sees_only_what_their_token_may(
    context: BrowserContext, gateway: GatewayProcess, registered: Registered
) -> None:
    gateway.create(ENDPOINT, [registered.entity("only")])
    gateway.create_user("ana@example.com")
    token, _ = gateway.token_for("ana@example.com")
    page = context.new_page()
    sign_in(page, token)
    expect(page.get_by_role("heading", name="Serving endpoints")).to_be_visible()
    expect(page.get_by_text("ana@example.com")).to_be_visible()
    expect(page.get_by_role("link", name=ENDPOINT)).to_have_count(0)
    page.goto(f"/ui/endpoints/{ENDPOINT}")
    expect(page.get_by_role("alert")).to_contain_text("PERMISSION_DENIED")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Access token")).to_be_visible()
