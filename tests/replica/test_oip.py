"""Open Inference Protocol tensors to model inputs and predictions back to tensors."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from servegate.errors import InvalidParameterValue
from servegate.replica import oip

COLUMNS = Schema([ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("string", "c")])


def request(*inputs: dict, outputs: list[str] | None = None) -> oip.InferRequest:
    body: dict = {"id": "r1", "inputs": list(inputs)}
    if outputs is not None:
        body["outputs"] = [{"name": name} for name in outputs]
    return oip.parse_request(orjson.dumps(body))


def tensor(name: str, shape: list[int], datatype: str, data: list) -> dict:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def test_one_tensor_per_column_becomes_a_frame() -> None:
    parsed = request(
        tensor("a", [2], "FP64", [1.5, 2.5]),
        tensor("b", [2, 1], "INT64", [1, 2]),
        tensor("c", [2], "BYTES", ["x", "y"]),
    )
    frame = oip.model_input(parsed, COLUMNS)
    expected = pd.DataFrame({"a": [1.5, 2.5], "b": [1, 2], "c": ["x", "y"]})
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_one_matrix_takes_the_signature_column_order() -> None:
    parsed = request(tensor("input-0", [2, 3], "FP64", [1, 2, 3, 4, 5, 6]))
    frame = oip.model_input(parsed, COLUMNS)
    assert list(frame.columns) == ["a", "b", "c"] and frame["c"].tolist() == [3.0, 6.0]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([tensor("a", [2], "FP64", [1.0, 2.0])], "Missing input tensor(s) 'b', 'c'"),
        ([tensor("m", [2, 2], "FP64", [1, 2, 3, 4])], "must have shape [rows, 3]"),
        (
            [
                tensor("a", [2], "FP64", [1, 2]),
                tensor("b", [3], "INT64", [1, 2, 3]),
                tensor("c", [2], "BYTES", ["x", "y"]),
            ],
            "disagree on the number of rows",
        ),
    ],
)
def test_inputs_that_do_not_fit_the_signature_are_400s(inputs: list, message: str) -> None:
    with pytest.raises(
        InvalidParameterValue,
        match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\["),
    ):
        oip.model_input(request(*inputs), COLUMNS)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "list 'inputs'"),
        (b'{"inputs": []}', "'inputs' is empty"),
        (b'{"inputs": [{"name": "a"}]}', "lacks shape, datatype, data"),
        (
            b'{"inputs": [{"name": "a", "shape": [2], "datatype": "FP128", "data": [1, 2]}]}',
            "FP128",
        ),
        (
            b'{"inputs": [{"name": "a", "shape": [3], "datatype": "FP64", "data": [1, 2]}]}',
            "holds 3 values",
        ),
        (
            b'{"inputs": [{"name": "a", "shape": [-1], "datatype": "FP64", "data": [1]}]}',
            "non-negative",
        ),
        (
            b'{"inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": ["x"]}]}',
            "not INT64",
        ),
        (
            b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], '
            b'"outputs": [1]}',
            "'outputs'",
        ),
    ],
)
def test_malformed_requests_are_400s_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(InvalidParameterValue, match=message):
        oip.parse_request(body)


def test_tensor_signatures_take_tensors_as_they_are() -> None:
    single = Schema([TensorSpec(np.dtype("float32"), (-1, 2))])
    parsed = request(tensor("x", [2, 2], "FP32", [[1, 2], [3, 4]]))  # nested data too
    array = oip.model_input(parsed, single)
    assert array.dtype == np.float32 and array.shape == (2, 2)
    named = Schema(
        [TensorSpec(np.dtype("int64"), (-1,), "p"), TensorSpec(np.dtype("int64"), (-1,), "q")]
    )
    both = oip.model_input(
        request(tensor("p", [1], "INT64", [1]), tensor("q", [1], "INT64", [2])), named
    )
    assert set(both) == {"p", "q"}


def test_predictions_become_tensors_with_types_and_shapes() -> None:
    parsed = request(tensor("a", [2], "FP64", [1, 2]))
    [labels] = oip.output_tensors(np.array([0, 1]), None)
    assert (labels.name, labels.datatype, labels.shape) == ("predictions", "INT64", (2,))
    framed = oip.output_tensors(pd.DataFrame({"p": [0.1, 0.9], "label": ["no", "yes"]}), None)
    assert [(t.name, t.datatype) for t in framed] == [("p", "FP64"), ("label", "BYTES")]
    body, header_length = oip.infer_response(parsed, framed, "churn", "v2")
    assert header_length is None, "JSON unless binary data were asked for"
    answer = orjson.loads(body)
    assert answer == {
        "model_name": "churn",
        "model_version": "v2",
        "id": "r1",
        "outputs": [
            {"name": "p", "datatype": "FP64", "shape": [2], "data": [0.1, 0.9]},
            {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["no", "yes"]},
        ],
    }
    only = request(tensor("a", [2], "FP64", [1, 2]), outputs=["label"])
    picked, _ = oip.infer_response(only, framed, "m", None)
    assert [o["name"] for o in orjson.loads(picked)["outputs"]] == ["label"]
    with pytest.raises(InvalidParameterValue, match="Unknown output"):
        oip.infer_response(
            request(tensor("a", [1], "FP64", [1]), outputs=["nope"]), framed, "m", None
        )


def test_metadata_describes_the_signature() -> None:
    assert oip.tensor_metadata(COLUMNS, "input") == [
        {"name": "a", "datatype": "FP64", "shape": [-1]},
        {"name": "b", "datatype": "INT64", "shape": [-1]},
        {"name": "c", "datatype": "BYTES", "shape": [-1]},
    ]
    tensors = Schema([TensorSpec(np.dtype("float32"), (-1, 28, 28))])
    assert oip.tensor_metadata(tensors, "input") == [
        {"name": "input", "datatype": "FP32", "shape": [-1, 28, 28]}
    ]
    assert oip.tensor_metadata(None, "input") == []


def test_the_binary_tensor_extension_both_ways() -> None:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "a",
                    "shape": [2],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": 16},
                },
                {"name": "b", "shape": [2], "datatype": "INT64", "data": [1, 2]},
                {
                    "name": "c",
                    "shape": [2],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 11},
                },
            ],
            "outputs": [{"name": "p", "parameters": {"binary_data": True}}, {"name": "label"}],
        }
    )
    raw = np.array([1.5, 2.5], "<f8").tobytes() + b"\x01\x00\x00\x00x\x02\x00\x00\x00yz"
    parsed = oip.parse_request(header + raw, str(len(header)))
    frame = oip.model_input(parsed, COLUMNS)
    assert frame["a"].tolist() == [1.5, 2.5] and frame["c"].tolist() == ["x", "yz"]

    framed = oip.output_tensors(pd.DataFrame({"p": [0.25, 0.75], "label": ["no", "yes"]}), None)
    body, header_length = oip.infer_response(parsed, framed, "m", None)
    described = orjson.loads(body[:header_length])
    assert described["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert described["outputs"][1]["data"] == ["no", "yes"]
    assert np.frombuffer(body[header_length:], "<f8").tolist() == [0.25, 0.75]

    with pytest.raises(InvalidParameterValue, match="add up to"):
        oip.parse_request(header + raw + b"!", str(len(header)))
    with pytest.raises(InvalidParameterValue, match="inference-header-content-length"):
        oip.parse_request(header, "lots")
