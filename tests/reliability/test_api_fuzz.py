"""Schemathesis against the control plane's own ``/openapi.json``: whatever a client sends
that the document allows (positive cases) or breaks on purpose (negative cases), the gateway
answers without a server error and keeps running. (Negative cases also leave the token out
on purpose: those are answered 401.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.e2e.gateway_process import GatewayProcess
from tests.reliability.fuzzing import DERANDOMIZE

EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("fuzzed")).start()
    yield process
    process.stop()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_makes_a_server_error(gateway: GatewayProcess, mode: GenerationMode) -> None:
    document = requests.get(f"{gateway.url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the document describes the whole control plane"
    with requests.Session() as session:

        @given(case=schema.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION * len(operations),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=DERANDOMIZE,
        )
        def call(case: schemathesis.Case) -> None:
            headers = {  # always signed in: it is the API behind auth that is fuzzed here
                **{k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"},
                **gateway.headers,
            }
            response = case.call(base_url=gateway.url, session=session, headers=headers, timeout=30)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error])

        call()
    print(
        f"{mode.value}: {sum(statuses.values())} requests over {len(operations)} operations: "
        f"{dict(sorted(statuses.items()))}"
    )
    assert gateway.process is not None and gateway.process.poll() is None, "still running"
    assert requests.get(f"{gateway.url}/health", timeout=10).status_code == 200


def test_numbers_too_large_to_store_are_client_errors(gateway: GatewayProcess) -> None:
    """What this fuzzing found once (a 500: the number did not fit the store's integer), and
    its kin: each a 400 naming the field."""
    token = gateway.api("POST", "/api/2.0/token/create", json={"lifetime_seconds": 10**16})
    assert token.status_code == 400 and "lifetime_seconds" in token.json()["message"]
    entity = {"entity_name": "m", "entity_version": "1", "max_provisioned_concurrency": 10**12}
    body = {"name": "huge", "config": {"served_entities": [entity]}}
    created = gateway.api("POST", "/api/2.0/serving-endpoints", json=body)
    assert created.status_code == 400 and "max_provisioned_concurrency" in created.text
