"""``servegate.client.ServegateClient`` over the whole endpoint lifecycle."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from servegate.client import ServegateClient, ServegateClientError
from tests.e2e.conftest import Registered
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.test_databricks_sdk import expected


def test_the_client_manages_queries_and_inspects_an_endpoint(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1, _ = sklearn_versions
    with ServegateClient(gateway.url, gateway.token) as client:
        client.create_endpoint(
            {"name": "py-client", "config": {"served_entities": [v1.entity("m")]}}
        )
        deadline = time.monotonic() + 120
        while client.endpoint("py-client")["state"]["ready"] != "READY":
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.3)
        assert "py-client" in [e["name"] for e in client.endpoints()]

        body = json.dumps({"dataframe_records": json.loads(v1.sample.to_json(orient="records"))})
        answer, served = client.query("py-client", body.encode())
        assert served == "m" and np.allclose(answer["predictions"], expected(gateway, v1))
        pinned, _ = client.query("py-client", body.encode(), served_model="m")
        assert pinned == answer

        tags = client.patch_tags("py-client", add={"team": "risk", "tier": "gold"})
        assert {t["key"] for t in tags} >= {"team", "tier"}
        tags = client.patch_tags("py-client", delete=["tier"])
        assert {t["key"] for t in tags} == {"team"}
        limits = {"rate_limits": [{"calls": 1000, "key": "endpoint", "renewal_period": "minute"}]}
        assert client.set_ai_gateway("py-client", limits)["rate_limits"][0]["calls"] == 1000
        assert 'endpoint="py-client"' in client.endpoint_metrics("py-client")
        paths = client.endpoint_openapi("py-client")["paths"]
        assert "/serving-endpoints/py-client/invocations" in paths
        kinds = [event["event_type"] for event in client.endpoint_events("py-client")]
        assert kinds[0] == "CONFIG_UPDATE_REQUESTED"
        assert "serving on" in client.served_model_logs("py-client", "m", build=True)

        client.create_secret_scope("py-scope")
        client.put_secret("py-scope", "api-key", "s3cr3t")
        assert "py-scope" in client.secret_scopes()
        assert client.secret_keys("py-scope") == ["api-key"]
        client.delete_secret("py-scope", "api-key")
        client.delete_secret_scope("py-scope")

        client.delete_endpoint("py-client")
        with pytest.raises(ServegateClientError) as missing:
            client.endpoint("py-client")
        assert missing.value.status_code == 404
        assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        with pytest.raises(ServegateClientError) as bad:
            client.query("py-client-never-made", body.encode())
        assert bad.value.status_code == 404


def test_an_unreachable_gateway_is_an_error_not_a_traceback() -> None:
    with (
        ServegateClient("http://127.0.0.1:9", "token", timeout=2) as client,
        pytest.raises(ServegateClientError) as unreachable,
    ):
        client.endpoints()
    assert unreachable.value.error_code == "UNREACHABLE"
