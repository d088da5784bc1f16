"""Whether a Service's pods serve the model a served entity asks for."""

from __future__ import annotations

import pytest

from servegate.backends.kubernetes_services import ServiceRoute, serves_same_model

URL = "http://churn-v1-569638:8080"


@pytest.mark.parametrize(
    ("pods_serve", "entity_asks", "same"),
    [
        ("models:/churn/3", "models:/churn/3", True),
        ("models:/churn/2", "models:/churn/3", False),  # another numbered version
        ("models:/churn/Production", "models:/churn/7", True),  # resolved when the pod starts
        ("models:/churn@champion", "models:/churn/7", True),
        ("models:/churn@champion", "models:/fraud/7", False),
        ("models:/churn/Production", "models:/churn_v2/7", False),  # a name is not a prefix
        (None, "models:/churn/7", True),  # a routes file written before models were recorded
    ],
)
def test_only_a_numbered_version_can_differ(
    pods_serve: str | None, entity_asks: str, same: bool
) -> None:
    assert serves_same_model(ServiceRoute(URL, pods_serve), entity_asks) is same
