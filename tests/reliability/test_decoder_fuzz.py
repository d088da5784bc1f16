"""Property-based fuzzing of the request decoder, through a real gateway and replicas.

Hypothesis sends arbitrary JSON, payloads that are nearly right (every input format MLflow
accepts, with columns missing, extra or renamed, values of every JSON type, nesting where a
number belongs, params of any shape) and raw bytes under every content type, to a model on the
fast exact path and to a custom pyfunc. Every answer must be a success or a client error in the
API's error format — never a 500 — and no replica or gateway process may die.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import models
from tests.e2e.conftest import Registered, register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import replica_pids
from tests.reliability.fuzzing import DERANDOMIZE

EXAMPLES = 300
FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs"]
CONTENT_TYPES = [
    "application/json",
    "text/csv",
    "application/json; format=pandas-split",
    "application/octet-stream",
    "",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("decoded")).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def served(gateway: GatewayProcess) -> dict[str, Registered]:
    """An endpoint per model: a pipeline on the fast exact path, and a custom pyfunc."""
    fast = register_into(gateway, lambda: models.register_sklearn("fuzzed-logreg"))
    custom = register_into(gateway, lambda: models.register_custom_pyfunc("fuzzed-pyfunc"))
    gateway.create("fast", [fast.entity("m")])
    gateway.create("custom", [custom.entity("m")])
    return {"fast": fast, "custom": custom}


def nearly_right(columns: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads shaped like the real thing, wrong in the details."""
    names = st.lists(st.sampled_from([*columns, "extra", ""]), max_size=len(columns) + 1) | st.just(
        columns
    )
    cell = json_scalars | st.lists(json_scalars, max_size=2)

    def rows_for(width: int) -> st.SearchStrategy[list[list[Any]]]:
        return st.lists(st.lists(cell, min_size=width, max_size=width), max_size=3)

    split = names.flatmap(
        lambda cols: st.fixed_dictionaries(
            {"columns": st.just(cols), "data": rows_for(len(cols)) | json_values},
            optional={"index": json_values},
        )
    )
    records = st.lists(st.dictionaries(st.sampled_from([*columns, "extra"]), cell), max_size=3)
    by_column = st.dictionaries(st.sampled_from([*columns, "extra"]), st.lists(cell, max_size=3))
    inputs = {
        "dataframe_split": split,
        "dataframe_records": records,
        "instances": records | st.lists(st.lists(cell, max_size=3), max_size=3),
        "inputs": records | by_column | json_values,
    }
    return st.sampled_from(FORMATS).flatmap(
        lambda key: st.fixed_dictionaries(
            {key: inputs[key]}, optional={"params": json_values, "extra_key": json_values}
        )
    )


def right(sample: pd.DataFrame) -> st.SearchStrategy[dict[str, Any]]:
    """Real rows, in any format, some numbers sent as integers or negated."""
    columns = list(sample.columns)
    value = st.sampled_from(sample.to_numpy().ravel().tolist()).flatmap(
        lambda x: st.sampled_from([x, int(x), -x])
    )
    rows = st.lists(
        st.lists(value, min_size=len(columns), max_size=len(columns)), min_size=1, max_size=3
    )
    return rows.flatmap(
        lambda data: st.sampled_from(
            [
                {"dataframe_split": {"columns": columns, "data": data}},
                {"dataframe_records": [dict(zip(columns, row, strict=True)) for row in data]},
                {"instances": [dict(zip(columns, row, strict=True)) for row in data]},
                {"inputs": {c: [row[i] for row in data] for i, c in enumerate(columns)}},
            ]
        )
    )


def bodies(sample: pd.DataFrame) -> st.SearchStrategy[tuple[bytes, str]]:
    columns = list(sample.columns)
    as_json = (right(sample) | nearly_right(columns) | json_values).map(
        lambda value: (json.dumps(value).encode(), "application/json")
    )
    raw = st.tuples(st.binary(max_size=200), st.sampled_from(CONTENT_TYPES))
    return as_json | raw


@pytest.mark.parametrize("endpoint", ["fast", "custom"])
def test_no_request_body_makes_a_server_error_or_kills_a_process(
    gateway: GatewayProcess, served: dict[str, Registered], endpoint: str
) -> None:
    assert gateway.process is not None
    replicas = sorted(replica_pids(gateway.process.pid))
    statuses: Counter[int] = Counter()
    url = f"{gateway.url}/serving-endpoints/{endpoint}/invocations"

    with requests.Session() as session:

        @given(body=bodies(served[endpoint].sample))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=DERANDOMIZE,
        )
        def send(body: tuple[bytes, str]) -> None:
            content, content_type = body
            headers = {**gateway.headers, "Content-Type": content_type}
            answer = session.post(url, data=content, headers=headers, timeout=60)
            statuses[answer.status_code] += 1
            assert answer.status_code < 500, (content[:300], answer.text[:300])
            if answer.status_code != 200:
                assert answer.json()["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")

        send()

    print(f"{endpoint}: {sum(statuses.values())} bodies: {dict(sorted(statuses.items()))}")
    assert statuses[200] > 0 and statuses[400] > 0, "both valid and invalid bodies were tried"
    assert sorted(replica_pids(gateway.process.pid)) == replicas, "no replica died"
    assert gateway.process.poll() is None
