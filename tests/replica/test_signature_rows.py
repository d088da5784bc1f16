"""A request of double columns decoded without MLflow's decoding is, to the model, exactly the
frame MLflow's decoding and pyfunc's enforcement would hand it, or left to MLflow."""

from __future__ import annotations

from pathlib import Path

import mlflow
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from mlflow.models import infer_signature

from servegate.errors import ServegateError
from servegate.replica.codecs import codec_for
from servegate.replica.model import LoadedModel
from servegate.replica.signature_rows import FRAME_KINDS, SignatureRows, signature_rows
from tests.models import requirements
from tests.replica.bodies import COLUMNS, FEATURES, TYPED_COLUMNS, requests, typed_rows


class Echo(mlflow.pyfunc.PythonModel):
    """Answers the frame it was handed: what the model sees."""

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):  # type: ignore[no-untyped-def]
        return model_input


# Three counts among the features (long columns beside double ones), and every feature counted.
COUNTED = FEATURES.astype({"mean radius": "int64", "mean texture": "int64", "worst area": "int64"})
ALL_COUNTED = FEATURES.round().astype("int64")
# ... and with a category and a flag: string and boolean columns.
TYPED = FEATURES.assign(
    country=[("US", "FR", "DE")[i % 3] for i in range(len(FEATURES))],
    smoker=[i % 4 == 0 for i in range(len(FEATURES))],
)


def saved_echo(path: Path, sample: pd.DataFrame) -> LoadedModel:
    mlflow.pyfunc.save_model(
        str(path),
        python_model=Echo(),
        signature=infer_signature(sample.head(2), sample.head(2)),
        pip_requirements=requirements(mlflow.pyfunc),
    )
    return LoadedModel(str(path), mlflow.pyfunc.load_model(str(path)))


# Each frame's echo model: what the model is handed, for every kind of signature.
SAMPLES = {"echo": FEATURES, "counted": COUNTED, "all_counted": ALL_COUNTED, "typed": TYPED}


@pytest.fixture(scope="module")
def echoes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LoadedModel]:
    folder = tmp_path_factory.mktemp("m")
    return {name: saved_echo(folder / name, sample) for name, sample in SAMPLES.items()}


def frames_of(model: LoadedModel) -> SignatureRows:
    rows = signature_rows(model.input_schema, FRAME_KINDS)
    assert isinstance(rows, SignatureRows), rows
    return rows


def seen_by_mlflow(model: LoadedModel, body: bytes) -> pd.DataFrame | None:
    """What the model is handed through MLflow's decoding, or None where that refuses."""
    try:
        decoded = codec_for("application/json").decode(body, model)
        return model.predict(decoded.data, None)
    except ServegateError:
        return None


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got, expected, check_exact=True, check_index_type=True, check_column_type=True
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=requests())
def test_a_decoded_frame_is_what_mlflow_hands_the_model(
    echoes: dict[str, LoadedModel], body: bytes
) -> None:
    for model in (echoes["echo"], echoes["counted"], echoes["all_counted"]):
        frame = frames_of(model).frame(body)
        if frame is None:
            continue
        expected = seen_by_mlflow(model, body)
        assert expected is not None, "decoded a request MLflow refuses"
        assert_same_frame(model.predict(frame, None), expected)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=requests(typed_rows, TYPED_COLUMNS))
def test_strings_and_flags_decode_as_mlflow_decodes_them(
    echoes: dict[str, LoadedModel], body: bytes
) -> None:
    typed = echoes["typed"]
    frame = frames_of(typed).frame(body)
    if frame is not None:
        expected = seen_by_mlflow(typed, body)
        assert expected is not None, "decoded a request MLflow refuses"
        assert_same_frame(typed.predict(frame, None), expected)


@pytest.mark.parametrize(
    ("kind", "frame"),
    list(SAMPLES.items()),
)
def test_the_plain_requests_are_decoded(
    kind: str, frame: pd.DataFrame, echoes: dict[str, LoadedModel]
) -> None:
    """It must not leave everything to MLflow: what clients send, in any column order, with
    pandas' index or one the client chose, decodes; long columns into int64 ones."""
    echo = echoes[kind]
    frames = frames_of(echo)
    sample = frame.sample(20, random_state=1)
    names = list(frame.columns)
    shuffled = sample[list(reversed(names))]
    labelled = sample.set_axis([f"patient-{n}" for n in range(20)])
    first = orjson.loads(sample.head(1).to_json(orient="records"))[0]
    whole = first | {name: 1 for name in COUNTED.columns}  # integers in the number columns
    bodies = [
        orjson.dumps({"dataframe_split": orjson.loads(sample.to_json(orient="split"))}),
        orjson.dumps({"dataframe_split": orjson.loads(shuffled.to_json(orient="split"))}),
        orjson.dumps({"dataframe_split": orjson.loads(labelled.to_json(orient="split"))}),
        orjson.dumps({"dataframe_split": {"columns": names, "data": sample.values.tolist()}}),
        orjson.dumps({"dataframe_records": orjson.loads(sample.to_json(orient="records"))}),
        orjson.dumps({"dataframe_records": [whole]}),
        orjson.dumps({"instances": orjson.loads(sample.to_json(orient="records"))}),
        orjson.dumps({"inputs": orjson.loads(sample.to_json(orient="records"))}),
        orjson.dumps({"inputs": {c: sample[c].tolist() for c in names}}),
    ]
    for body in bodies:
        frame = frames.frame(body)
        assert frame is not None, body[:80]
        expected = seen_by_mlflow(echo, body)
        assert expected is not None
        assert_same_frame(echo.predict(frame, None), expected)
    assert list(frames.frame(bodies[2]).index) == [f"patient-{n}" for n in range(20)]
    assert frames.frame(bodies[0]).dtypes.to_dict() == frame.dtypes.to_dict()


def test_a_long_column_takes_whole_numbers_only(echoes: dict[str, LoadedModel]) -> None:
    """12.0 is the 12 MLflow makes of it; 12.5 (which MLflow cuts to 12) and a whole number a
    float64 cannot hold exactly are left to MLflow."""
    counted = echoes["counted"]
    frames = frames_of(counted)
    record = orjson.loads(COUNTED.head(1).to_json(orient="records"))[0]
    whole = orjson.dumps({"dataframe_records": [record | {"worst area": 12.0}]})
    frame = frames.frame(whole)
    assert frame is not None and frame["worst area"].tolist() == [12]
    assert_same_frame(counted.predict(frame, None), seen_by_mlflow(counted, whole))
    for value in (12.5, 2**53 + 1, -(2**60)):
        body = orjson.dumps({"dataframe_records": [record | {"worst area": value}]})
        assert frames.frame(body) is None, value


def test_what_only_mlflow_decodes_is_left_to_it(
    echoes: dict[str, LoadedModel], tmp_path: Path
) -> None:
    frames = frames_of(echoes["echo"])
    record = dict.fromkeys(COLUMNS, 1.0)
    for body in (
        orjson.dumps({"dataframe_records": [record], "params": {"a": 1}}),
        orjson.dumps({"dataframe_records": [record | {"mean radius": "12.5"}]}),
        orjson.dumps({"dataframe_records": [record | {"mean radius": None}]}),
        orjson.dumps(
            {"dataframe_split": {"columns": COLUMNS, "data": [[1.0] * 30], "index": [0, 1]}}
        ),
        b'{"dataframe_records": [{"mean radius": NaN}]}',
    ):
        assert frames.frame(body) is None, body[:80]
        assert frames.matrix(body) is None, body[:80]  # nor does the fast path take it
    sample = FEATURES.head(2).astype({"mean radius": "float32"})
    path = tmp_path / "float32"
    mlflow.pyfunc.save_model(
        str(path),
        python_model=Echo(),
        signature=infer_signature(sample),
        pip_requirements=requirements(mlflow.pyfunc),
    )
    schema = mlflow.pyfunc.load_model(str(path)).metadata.get_input_schema()
    assert signature_rows(schema) == "input 'mean radius' is not a required long or double column"
