"""Property-based fuzzing of the Authorization header against the real gateway."""

from __future__ import annotations

import base64

import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.e2e.gateway_process import GatewayProcess

header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
schemes = st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Token", "", "Bearer  "])


@st.composite
def authorization(draw: st.DrawFn) -> str:
    scheme = draw(schemes)
    if scheme == "Basic" and draw(st.booleans()):
        user, password = draw(header_text), draw(header_text)
        return f"Basic {base64.b64encode(f'{user}:{password}'.encode()).decode()}"
    return f"{scheme} {draw(header_text)}".strip()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=authorization())
def test_arbitrary_authorization_headers_are_refused_cleanly(
    gateway: GatewayProcess, value: str
) -> None:
    assume(value and gateway.token not in value)
    for path in ("/api/2.0/serving-endpoints", "/serving-endpoints/x/invocations"):
        response = requests.post(gateway.url + path, headers={"Authorization": value}, timeout=30)
        assert response.status_code == 401, (value, response.text)
        assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_token_with_extra_whitespace_and_case(gateway: GatewayProcess) -> None:
    for value in (
        f"Bearer {gateway.token}",
        f"bearer {gateway.token}",
        f"Bearer   {gateway.token}  ",
    ):
        assert (
            requests.get(
                f"{gateway.url}/api/2.0/serving-endpoints",
                headers={"Authorization": value},
                timeout=30,
            ).status_code
            == 200
        )
    assert (
        requests.get(
            f"{gateway.url}/api/2.0/serving-endpoints",
            headers={"Authorization": f"Bearer {gateway.token}x"},
            timeout=30,
        ).status_code
        == 401
    )
