"""Queries through the gateway: same predictions as pyfunc, the traffic split, errors."""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import requests
from mlflow.pyfunc.scoring_server import predictions_to_json

from tests import models
from tests.e2e.conftest import Registered, load_pyfunc, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.test_metrics import samples, value

BASE = "/api/2.0/serving-endpoints"


def as_answered(raw: object) -> object:
    """Predictions as MLflow's own scoring server writes them."""
    out = io.StringIO()
    predictions_to_json(raw, out)
    return json.loads(out.getvalue())["predictions"]


def pyfunc_predictions(gateway: GatewayProcess, model: Registered) -> object:
    """What MLflow's own scoring server would answer for ``model.sample``."""
    return as_answered(load_pyfunc(gateway, model).predict(model.sample))


@pytest.fixture(scope="module")
def models_endpoint(
    gateway: GatewayProcess,
    sklearn_versions: list[Registered],
    custom_model: Registered,
    xgboost_model: Registered,
) -> str:
    gateway.api(
        "POST",
        BASE,
        json={
            "name": "dp-models",
            "config": {
                "served_entities": [
                    sklearn_versions[0].entity("sk"),
                    custom_model.entity("custom"),
                    xgboost_model.entity("xgb"),
                ],
                "traffic_config": {
                    "routes": [
                        {"served_model_name": "sk", "traffic_percentage": 100},
                        {"served_model_name": "custom", "traffic_percentage": 0},
                        {"served_model_name": "xgb", "traffic_percentage": 0},
                    ]
                },
            },
        },
    ).raise_for_status()
    gateway.wait_for("dp-models")
    return "dp-models"


@pytest.mark.parametrize("served", ["sk", "custom", "xgb"])
def test_predictions_equal_pyfunc(
    gateway: GatewayProcess,
    models_endpoint: str,
    served: str,
    sklearn_versions: list[Registered],
    custom_model: Registered,
    xgboost_model: Registered,
) -> None:
    model = {"sk": sklearn_versions[0], "custom": custom_model, "xgb": xgboost_model}[served]
    expected = pyfunc_predictions(gateway, model)
    url = f"/serving-endpoints/{models_endpoint}/served-models/{served}/invocations"
    sample = model.sample
    bodies = [
        {"dataframe_split": json.loads(sample.to_json(orient="split"))},
        {"dataframe_records": json.loads(sample.to_json(orient="records"))},
        json.loads(sample.to_json(orient="split")),  # the bare split object older clients post
    ]
    for body in bodies:
        response = gateway.api("POST", url, json=body)
        assert response.status_code == 200, response.text
        assert response.headers["served-model-name"] == served
        assert response.json()["predictions"] == expected
    csv = gateway.api(
        "POST",
        url,
        data=sample.to_csv(index=False),
        headers={**gateway.headers, "Content-Type": "text/csv"},
    )
    assert csv.status_code == 200, csv.text
    assert csv.json()["predictions"] == expected


def test_split_route_lands_within_five_points(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    v1, v2 = sklearn_versions
    gateway.create(
        "dp-split",
        [v1.entity("a"), v2.entity("b")],
        [
            {"served_model_name": "a", "traffic_percentage": 80},
            {"served_model_name": "b", "traffic_percentage": 20},
        ],
    )
    row = {"dataframe_records": json.loads(v1.sample.head(1).to_json(orient="records"))}
    counts: Counter[str] = Counter()
    with requests.Session() as session:
        session.headers.update(gateway.headers)
        for _ in range(1000):
            response = session.post(
                f"{gateway.url}/serving-endpoints/dp-split/invocations", json=row, timeout=30
            )
            assert response.status_code == 200
            counts[response.headers["served-model-name"]] += 1
    assert abs(counts["a"] / 1000 - 0.80) <= 0.05, counts
    assert counts["a"] + counts["b"] == 1000
    gateway.api("DELETE", f"{BASE}/dp-split")


def test_unknown_endpoint_and_served_model(gateway: GatewayProcess, models_endpoint: str) -> None:
    response = gateway.api("POST", "/serving-endpoints/nope/invocations", json={"inputs": [1]})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    response = gateway.api(
        "POST",
        f"/serving-endpoints/{models_endpoint}/served-models/nope/invocations",
        json={"inputs": [1]},
    )
    assert response.status_code == 404
    assert "nope" in response.json()["message"]


def test_not_ready_is_503_with_retry_after(
    gateway: GatewayProcess, sklearn_versions: list[Registered]
) -> None:
    gateway.api(
        "POST",
        BASE,
        json={"name": "dp-cold", "config": {"served_entities": [sklearn_versions[1].entity("m")]}},
    ).raise_for_status()
    response = gateway.api(
        "POST", "/serving-endpoints/dp-cold/invocations", json={"dataframe_records": [{"a": 1}]}
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    gateway.wait_for("dp-cold")
    gateway.api("DELETE", f"{BASE}/dp-cold")


def test_bad_inputs_through_the_gateway(
    gateway: GatewayProcess, models_endpoint: str, sklearn_versions: list[Registered]
) -> None:
    url = f"/serving-endpoints/{models_endpoint}/invocations"
    sample = sklearn_versions[0].sample
    json_headers = {**gateway.headers, "Content-Type": "application/json"}

    def check(response, status: int, *fragments: str) -> None:  # type: ignore[no-untyped-def]
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) >= {"error_code", "message"}
        for fragment in fragments:
            assert fragment in body["message"], body["message"]
        assert "Unexpected error" not in body["message"]

    check(gateway.api("POST", url, data=b"{oops", headers=json_headers), 400)
    check(gateway.api("POST", url, data=b"[]", headers=json_headers), 400)
    check(
        gateway.api(
            "POST", url, data=b"hello", headers={**gateway.headers, "Content-Type": "text/plain"}
        ),
        415,
    )
    check(gateway.api("POST", url, json={}), 400)
    missing = sample.drop(columns=[sample.columns[0]])
    check(
        gateway.api(
            "POST", url, json={"dataframe_split": json.loads(missing.to_json(orient="split"))}
        ),
        400,
        sample.columns[0],
    )
    wrong = sample.head(1).astype(object)
    wrong.iloc[0, 1] = "abc"
    check(
        gateway.api(
            "POST", url, json={"dataframe_split": json.loads(wrong.to_json(orient="split"))}
        ),
        400,
        sample.columns[1],
    )
    check(
        gateway.api(
            "POST", url, json={"dataframe_split": {"columns": list(sample.columns), "data": []}}
        ),
        400,
    )
    huge = b'{"inputs": "' + b"x" * (16 * 1024 * 1024 + 10) + b'"}'
    check(gateway.api("POST", url, data=huge, headers=json_headers), 413)
    # Without a Content-Length (chunked), the limit is counted as the body arrives.
    check(gateway.api("POST", url, data=pieces(huge, 1024 * 1024), headers=json_headers), 413)
    # Still serving after all that, and a body in pieces is the same request as a whole one.
    whole = json.dumps({"dataframe_split": json.loads(sample.to_json(orient="split"))}).encode()
    ok = gateway.api("POST", url, data=whole, headers=json_headers)
    assert ok.status_code == 200
    in_pieces = gateway.api("POST", url, data=pieces(whole, 100), headers=json_headers)
    assert in_pieces.request.headers.get("transfer-encoding") == "chunked"
    assert in_pieces.status_code == 200 and in_pieces.json() == ok.json()


def pieces(body: bytes, size: int) -> Iterator[bytes]:
    """``body`` sent chunked, ``size`` bytes at a time."""
    return (body[start : start + size] for start in range(0, len(body), size))


def test_ready_means_servable(gateway: GatewayProcess, sklearn_versions: list[Registered]) -> None:
    """The first GET that says READY is followed by a query that answers, with no gap."""
    model = sklearn_versions[1]
    created = gateway.api(
        "POST", BASE, json={"name": "dp-eager", "config": {"served_entities": [model.entity("m")]}}
    )
    assert created.status_code == 200, created.text
    deadline = time.monotonic() + 180
    while gateway.api("GET", f"{BASE}/dp-eager").json()["state"]["ready"] != "READY":
        assert time.monotonic() < deadline, "endpoint never became ready"
        time.sleep(0.002)
    answer = gateway.api(
        "POST",
        "/serving-endpoints/dp-eager/invocations",
        json={"dataframe_split": model.sample.head(1).to_dict(orient="split")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["served-model-name"] == "m"


def test_batched_fast_path_through_an_endpoint(gateway: GatewayProcess) -> None:
    """Batching set on the served entity reaches the replica; concurrent answers are exactly
    pyfunc's, request by request."""
    forest = register_into(gateway, lambda: models.register_forest("dp-forest"))
    bad = gateway.api(
        "POST",
        BASE,
        json={
            "name": "dp-batched",
            "config": {"served_entities": [{**forest.entity("f"), "max_batch_rows": 0}]},
        },
    )
    assert bad.status_code == 400 and "max_batch_rows" in bad.json()["message"]
    entity = {**forest.entity("f"), "max_batch_rows": 16, "max_batch_wait_ms": 2}
    ready = gateway.create("dp-batched", [entity])
    shown = ready["config"]["served_entities"][0]
    assert (shown["max_batch_rows"], shown["max_batch_wait_ms"]) == (16, 2)
    build_log = gateway.api("GET", f"{BASE}/dp-batched/served-models/f/build-logs").json()["logs"]
    assert "fast path: on" in build_log and "batched" in build_log
    assert "dataframe questions: numpy arrays answered at once" in build_log

    requests_ = [forest.sample.iloc[i : i + 1 + i % 3] for i in range(24)]

    def ask(rows: pd.DataFrame) -> object:
        answer = gateway.api(
            "POST",
            "/serving-endpoints/dp-batched/invocations",
            json={"dataframe_split": json.loads(rows.to_json(orient="split"))},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["predictions"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, requests_))
    pyfunc = load_pyfunc(gateway, forest)
    for rows, answer in zip(requests_, answers, strict=True):
        assert answer == as_answered(pyfunc.predict(rows))


def test_requests_held_together_go_in_bundles_each_answered_as_alone(
    gateway: GatewayProcess, models_endpoint: str, sklearn_versions: list[Registered]
) -> None:
    """Requests the gateway holds at once for a replica reach it in one exchange (a bundle);
    each is answered as it is alone, and a bad one fails only itself."""
    url = f"/serving-endpoints/{models_endpoint}/served-models/sk/invocations"
    sample = sklearn_versions[0].sample
    bodies = [
        json.dumps(
            {"dataframe_split": json.loads(sample.iloc[i : i + 1 + i % 2].to_json(orient="split"))}
        )
        if i % 4
        else "{not json"
        for i in range(16)
    ]

    def ask(body: str) -> tuple[int, str]:
        headers = {**gateway.headers, "content-type": "application/json"}
        answer = gateway.api("POST", url, data=body, headers=headers)
        return answer.status_code, answer.text

    alone = [ask(body) for body in bodies]
    assert [status for status, _ in alone] == [400, 200, 200, 200] * 4

    def bundled() -> tuple[float, float]:
        found = samples(gateway.api("GET", "/metrics").text)
        labels = {"endpoint": models_endpoint, "served_model": "sk"}
        return (
            value(found, "servegate_bundle_requests_count", **labels),
            value(found, "servegate_bundle_requests_sum", **labels),
        )

    before = bundled()
    with ThreadPoolExecutor(len(bodies)) as pool:
        for _ in range(50):  # until some requests met at the gateway (each round is a chance)
            assert list(pool.map(ask, bodies)) == alone
            bundles, requests_ = bundled()
            if requests_ - before[1] > bundles - before[0]:
                break
        else:
            raise AssertionError(f"no two requests of 50 rounds of 16 went together: {bundled()}")


def test_limited_and_unlimited_queries_are_answered_alike(
    gateway: GatewayProcess, models_endpoint: str, sklearn_versions: list[Registered]
) -> None:
    """Most queries are answered by the gateway's short way; those an endpoint's rate limit
    counts take the full one. Both give the same answer, headers included."""
    url = f"/serving-endpoints/{models_endpoint}/invocations"
    body = {"dataframe_split": json.loads(sklearn_versions[0].sample.to_json(orient="split"))}

    def query(request_id: str) -> requests.Response:
        headers = {**gateway.headers, "x-request-id": request_id}
        return gateway.api("POST", url, json=body, headers=headers)

    def answered_alike(first: requests.Response, second: requests.Response) -> None:
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        for name in ("content-type", "content-length", "served-model-name"):
            assert first.headers[name] == second.headers[name], name

    unlimited = query("unlimited")
    assert unlimited.headers["x-request-id"] == "unlimited"
    ai_gateway = f"{BASE}/{models_endpoint}/ai-gateway"
    limits = {"rate_limits": [{"calls": 2, "key": "endpoint", "renewal_period": "minute"}]}
    gateway.api("PUT", ai_gateway, json=limits).raise_for_status()
    try:
        answers: list[requests.Response] = []
        deadline = time.monotonic() + 30
        while not answers or answers[-1].status_code != 429:  # until the limit is in force
            assert time.monotonic() < deadline, [a.status_code for a in answers]
            answers.append(query(f"limited-{len(answers)}"))
        # the two answers before the refusal were counted by the limit: the full way's
        limited = answers[-2]
        answered_alike(unlimited, limited)
        assert limited.headers["x-request-id"] == f"limited-{len(answers) - 2}"
        assert answers[-1].json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    finally:
        gateway.api("PUT", ai_gateway, json={"rate_limits": []}).raise_for_status()
    deadline = time.monotonic() + 30
    while (again := query("unlimited-again")).status_code == 429:
        assert time.monotonic() < deadline, "the limit was never lifted"
        time.sleep(0.1)
    answered_alike(unlimited, again)
