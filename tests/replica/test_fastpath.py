"""The fast exact path answers exactly what the pyfunc path answers, or leaves the request
to it; batched predictions are exactly the unbatched ones, request by request."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import lightgbm
import mlflow
import numpy as np
import orjson
import pandas as pd
import pytest
import xgboost
from hypothesis import HealthCheck, given, settings
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from servegate.errors import ServegateError
from servegate.replica import forest_native
from servegate.replica.app import score
from servegate.replica.batching import Batcher
from servegate.replica.codecs import codec_for
from servegate.replica.encoding import encode_predictions
from servegate.replica.fastpath import FastPath, compile_fast_path
from servegate.replica.model import LoadedModel
from tests.models import FOREST_TYPES, requirements
from tests.replica.bodies import COLUMNS, FEATURES, LABELS, requests

# Three counts among the features: their signature columns are long, the rest double.
COUNTED = FEATURES.astype(
    {"mean radius": "int64", "mean texture": "int64", "worst area": "int64"}, errors="raise"
)


def saved(
    estimator: object,
    path: Path,
    flavor: Any = mlflow.sklearn,
    example: pd.DataFrame = FEATURES,
    **extra: object,
) -> LoadedModel:
    """``estimator`` saved by its MLflow ``flavor`` and loaded back as a replica loads it."""
    flavor.save_model(
        estimator,
        str(path),
        input_example=example.head(2),
        pip_requirements=requirements(flavor),
        **extra,
    )
    return LoadedModel(str(path), mlflow.pyfunc.load_model(str(path)))


@pytest.fixture(scope="module")
def logreg(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    pipeline = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(C=0.05))])
    return saved(pipeline.fit(FEATURES, LABELS), tmp_path_factory.mktemp("m") / "logreg")


def proba_pipeline(frame: pd.DataFrame, path: Path) -> LoadedModel:
    """Probabilities of a scaled logistic regression, not labels: any difference in the
    arithmetic would show."""
    pipeline = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(C=0.05))])
    return saved(
        pipeline.fit(frame, LABELS), path, example=frame, pyfunc_predict_fn="predict_proba"
    )


def small_forest(frame: pd.DataFrame, path: Path, **extra: object) -> LoadedModel:
    estimator = RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=1)
    return saved(
        estimator.fit(frame, LABELS),
        path,
        example=frame,
        skops_trusted_types=FOREST_TYPES,
        **extra,
    )


@pytest.fixture(scope="module")
def proba(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return proba_pipeline(FEATURES, tmp_path_factory.mktemp("m") / "proba")


@pytest.fixture(scope="module")
def forest(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return small_forest(FEATURES, tmp_path_factory.mktemp("m") / "forest")


@pytest.fixture(scope="module")
def extra_trees(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """Extra trees, a regressor of a continuous target: the trees' sum shows any difference
    in its order."""
    target = FEATURES["worst area"] / 7 + FEATURES["mean smoothness"]
    trees = ExtraTreesRegressor(n_estimators=20, min_samples_leaf=3, random_state=0)
    estimator = trees.fit(FEATURES, target)
    trusted = [
        "sklearn.ensemble._forest.ExtraTreesRegressor",
        "sklearn.tree._classes.ExtraTreeRegressor",
        "sklearn.tree._tree.Tree",
        "numpy.dtype",
    ]
    path = tmp_path_factory.mktemp("m") / "extra-trees"
    return saved(estimator, path, skops_trusted_types=trusted)


@pytest.fixture(scope="module")
def scaled_forest(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A pipeline ending in a forest, answering probabilities."""
    forest = RandomForestClassifier(n_estimators=20, min_samples_leaf=3, random_state=0)
    pipeline = Pipeline([("scale", StandardScaler()), ("forest", forest)])
    trusted = [
        *FOREST_TYPES,
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
    ]
    path = tmp_path_factory.mktemp("m") / "scaled-forest"
    return saved(
        pipeline.fit(FEATURES, LABELS),
        path,
        skops_trusted_types=trusted,
        pyfunc_predict_fn="predict_proba",
    )


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """Fitted on doubles and counts (long columns)."""
    return proba_pipeline(COUNTED, tmp_path_factory.mktemp("m") / "counted")


@pytest.fixture(scope="module")
def counted_forest(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    path = tmp_path_factory.mktemp("m") / "counted-forest"
    return small_forest(COUNTED, path, pyfunc_predict_fn="predict_proba")


@pytest.fixture(scope="module")
def boosted(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """XGBoost through its scikit-learn API; a regressor, so any difference in the
    arithmetic shows in the answer."""
    regressor = xgboost.XGBRegressor(n_estimators=50, max_depth=4, random_state=0, n_jobs=1)
    path = tmp_path_factory.mktemp("m") / "boosted"
    return saved(regressor.fit(FEATURES, LABELS), path, mlflow.xgboost)


# Three classes by size, for classifiers of more than two.
SIZES = pd.Series(np.digitize(FEATURES["mean radius"], [12.0, 16.0]))


def xgboost_classifier(labels: pd.Series, path: Path, **params: object) -> LoadedModel:
    classifier = xgboost.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1, **params)
    return saved(classifier.fit(FEATURES, labels), path, mlflow.xgboost)


@pytest.fixture(scope="module")
def boosted_labels(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """An XGBoost classifier of two classes: its labels cut its probabilities at 0.5."""
    return xgboost_classifier(LABELS, tmp_path_factory.mktemp("m") / "boosted-labels")


@pytest.fixture(scope="module")
def boosted_classes(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """An XGBoost classifier of three classes: its labels are its likeliest."""
    return xgboost_classifier(SIZES, tmp_path_factory.mktemp("m") / "boosted-classes")


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """LightGBM through its scikit-learn API, a regressor as above."""
    regressor = lightgbm.LGBMRegressor(n_estimators=50, random_state=0, n_jobs=1, verbose=-1)
    path = tmp_path_factory.mktemp("m") / "light"
    return saved(regressor.fit(FEATURES, LABELS), path, mlflow.lightgbm)


def lightgbm_classifier(labels: pd.Series, path: Path) -> LoadedModel:
    classifier = lightgbm.LGBMClassifier(n_estimators=30, random_state=0, n_jobs=1, verbose=-1)
    return saved(classifier.fit(FEATURES, labels), path, mlflow.lightgbm)


@pytest.fixture(scope="module")
def light_labels(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A LightGBM classifier of two classes, named by strings."""
    named = LABELS.map({0: "malignant", 1: "benign"})
    return lightgbm_classifier(named, tmp_path_factory.mktemp("m") / "light-labels")


@pytest.fixture(scope="module")
def light_classes(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A LightGBM classifier of three classes."""
    return lightgbm_classifier(SIZES, tmp_path_factory.mktemp("m") / "light-classes")


@pytest.fixture(scope="module")
def light_booster(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """LightGBM's own Booster, fitted on an array: its features are named by position."""
    params = {"objective": "regression", "verbose": -1, "num_threads": 1}
    booster = lightgbm.train(params, lightgbm.Dataset(FEATURES.to_numpy(), LABELS), 30)
    return saved(booster, tmp_path_factory.mktemp("m") / "light-booster", mlflow.lightgbm)


def fast_of(model: LoadedModel) -> FastPath:
    fast, verdict = compile_fast_path(model)
    assert fast is not None, verdict
    return fast


def pyfunc_answer(model: LoadedModel, body: bytes) -> bytes | str:
    """What the pyfunc path answers: the body, or the error it raises."""
    try:
        return score(codec_for("application/json"), body, model, max_rows=100_000)
    except ServegateError as error:
        return f"{error.status_code} {error.message}"


def fast_answer(fast: FastPath, body: bytes) -> bytes | None:
    """The fast path's answer, or None where the replica hands the request to pyfunc."""
    rows = fast.decode(body)
    if rows is None:
        return None
    try:
        return encode_predictions(fast.predict(rows))
    except ValueError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=requests())
def test_fast_path_answers_as_pyfunc_does_or_defers(
    logreg: LoadedModel,
    proba: LoadedModel,
    forest: LoadedModel,
    boosted: LoadedModel,
    boosted_labels: LoadedModel,
    boosted_classes: LoadedModel,
    light: LoadedModel,
    light_labels: LoadedModel,
    light_classes: LoadedModel,
    light_booster: LoadedModel,
    counted: LoadedModel,
    counted_forest: LoadedModel,
    extra_trees: LoadedModel,
    scaled_forest: LoadedModel,
    body: bytes,
) -> None:
    models = (logreg, proba, forest, boosted, light, light_booster, counted, counted_forest)
    boosters = (boosted_labels, boosted_classes, light_labels, light_classes)
    for model in (*models, *boosters, extra_trees, scaled_forest):
        fast = fast_answer(fast_of(model), body)
        if fast is not None:
            assert fast == pyfunc_answer(model, body)


@pytest.mark.parametrize(
    "kind",
    [
        "logreg",
        "boosted",
        "boosted_labels",
        "boosted_classes",
        "light",
        "light_labels",
        "light_classes",
        "light_booster",
    ],
)
def test_fast_path_takes_the_plain_requests(kind: str, request: pytest.FixtureRequest) -> None:
    """It must not defer everything: well-formed numbers in any column order go fast."""
    model: LoadedModel = request.getfixturevalue(kind)
    fast = fast_of(model)
    sample = FEATURES.sample(20, random_state=1)
    shuffled = sample[list(reversed(COLUMNS))]
    bodies = [
        orjson.dumps({"dataframe_split": orjson.loads(sample.to_json(orient="split"))}),
        orjson.dumps({"dataframe_split": orjson.loads(shuffled.to_json(orient="split"))}),
        orjson.dumps({"dataframe_records": orjson.loads(sample.to_json(orient="records"))}),
        orjson.dumps({"dataframe_records": [{c: 1 for c in COLUMNS}]}),  # integers
        orjson.dumps({"instances": orjson.loads(sample.to_json(orient="records"))}),
        orjson.dumps({"inputs": orjson.loads(sample.to_json(orient="records"))}),
        orjson.dumps({"inputs": {c: sample[c].tolist() for c in COLUMNS}}),
    ]
    for body in bodies:
        answer = fast_answer(fast, body)
        assert answer is not None and answer == pyfunc_answer(model, body)


@pytest.mark.parametrize("kind", ["counted", "counted_forest"])
def test_counts_beside_doubles_go_fast(kind: str, request: pytest.FixtureRequest) -> None:
    """Long columns beside double ones: whole numbers go fast and answer as pyfunc does; a
    value pyfunc would cut to a whole number, or one float64 cannot hold exactly, does not."""
    model: LoadedModel = request.getfixturevalue(kind)
    fast, verdict = compile_fast_path(model)
    assert fast is not None and verdict.startswith("on (27 double and 3 long columns"), verdict
    sample = COUNTED.sample(20, random_state=2)
    bodies = [
        orjson.dumps({"dataframe_split": orjson.loads(sample.to_json(orient="split"))}),
        orjson.dumps({"dataframe_records": orjson.loads(sample.to_json(orient="records"))}),
        orjson.dumps({"inputs": {c: sample[c].tolist() for c in COLUMNS}}),
        orjson.dumps({"dataframe_records": [dict.fromkeys(COLUMNS, 12.0)]}),  # 12.0 is whole
        orjson.dumps({"dataframe_records": [dict.fromkeys(COLUMNS, -0.0)]}),
    ]
    for body in bodies:
        answer = fast_answer(fast, body)
        assert answer is not None and answer == pyfunc_answer(model, body), body[:80]
    # -0.0 is 0 in pyfunc's int64 column, and stays -0.0 in a double one.
    signs = np.signbit(fast.decode(bodies[-1]))[0]
    longs = [COLUMNS.index(name) for name in ("mean radius", "mean texture", "worst area")]
    assert not signs[longs].any() and signs.sum() == len(COLUMNS) - len(longs)
    record = orjson.loads(sample.head(1).to_json(orient="records"))[0]
    for value in (12.5, 2**53 + 1, -(2**60)):
        body = orjson.dumps({"dataframe_records": [record | {"worst area": value}]})
        assert fast.decode(body) is None, value


def test_a_model_of_counts_only_is_left_to_pyfunc(tmp_path: Path) -> None:
    """Given only long columns, pyfunc hands scikit-learn integers, not float64."""
    counts = COUNTED[["mean radius", "mean texture", "worst area"]]
    pipeline = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression())])
    model = saved(pipeline.fit(counts, LABELS), tmp_path / "counts", example=counts)
    assert compile_fast_path(model) == (
        None,
        "every input is a long column: the model would be handed integers",
    )


def test_what_a_step_would_refuse_is_left_to_pyfunc(
    logreg: LoadedModel, forest: LoadedModel
) -> None:
    """The pipeline's own finiteness checks are skipped, so the path must make them: a value
    the scaler turns into infinity (its scale for this column is ~0.014) is refused by the
    logistic regression after it, on the pyfunc path."""
    fast, verdict = compile_fast_path(logreg)
    assert fast is not None and "finiteness checked here" in verdict
    record = dict.fromkeys(COLUMNS, 1.0) | {"mean smoothness": 1e308}
    body = orjson.dumps({"dataframe_records": [record]})
    assert fast.decode(body) is not None
    assert fast_answer(fast, body) is None
    refused = pyfunc_answer(logreg, body)
    assert isinstance(refused, str) and refused.startswith("400") and "infinity" in refused
    # A forest casts to float32, where a finite double may not be: it keeps its own checks.
    assert "finiteness" not in compile_fast_path(forest)[1]


def test_forests_with_one_job_have_their_trees_summed_here(
    forest: LoadedModel,
    counted_forest: LoadedModel,
    extra_trees: LoadedModel,
    scaled_forest: LoadedModel,
    tmp_path: Path,
) -> None:
    """scikit-learn hands each tree to joblib, a configuration context and warning filters
    for each; the path sums the trees itself, in the same order, for the same bits."""
    for model in (forest, counted_forest, extra_trees, scaled_forest):
        assert "batched; trees summed here" in compile_fast_path(model)[1]
    rows = FEATURES.sample(64, random_state=3) * 1.01  # between the leaves' training rows
    for model in (forest, extra_trees, scaled_forest):
        fast = fast_of(model)
        for count in (1, 7, 64):
            expected = model.pyfunc.predict(rows.head(count))
            assert encode_predictions(fast.predict(rows.head(count).to_numpy())) == (
                encode_predictions(expected)
            )
    # A sum that answers the probe of noise differently in any bit is not used.
    real = forest_native._summed

    def off_by_a_bit(forest: Any, predict_fn: str) -> Any:
        return lambda rows: np.nextafter(real(forest, predict_fn)(rows), np.inf)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(forest_native, "_summed", off_by_a_bit)
        fast, verdict = compile_fast_path(extra_trees)
    assert fast is not None and "summed" not in verdict
    # Two jobs sum the trees in the order their threads finish: the forest's own predict.
    threaded = RandomForestClassifier(n_estimators=5, random_state=0, n_jobs=2)
    model = saved(
        threaded.fit(FEATURES, LABELS),
        tmp_path / "threaded",
        **{"skops_trusted_types": FOREST_TYPES},
    )
    fast, verdict = compile_fast_path(model)
    assert fast is not None and "summed" not in verdict
    assert fast.predict.__self__ is model.pyfunc.get_raw_model()  # type: ignore[attr-defined]


def test_xgboost_models_predict_from_their_booster_where_it_answers_alike(
    boosted: LoadedModel,
    boosted_labels: LoadedModel,
    boosted_classes: LoadedModel,
    tmp_path: Path,
) -> None:
    for model in (boosted, boosted_labels, boosted_classes):
        assert "xgboost inplace predict" in compile_fast_path(model)[1]
    # Labels straight from softmax, and a linear booster: their own predict.
    softmax = xgboost_classifier(SIZES, tmp_path / "softmax", objective="multi:softmax")
    linear = xgboost.XGBRegressor(booster="gblinear", n_jobs=1).fit(FEATURES, LABELS)
    for model in (softmax, saved(linear, tmp_path / "linear", mlflow.xgboost)):
        fast, verdict = compile_fast_path(model)
        assert fast is not None and "xgboost predict" in verdict, verdict
        assert fast.predict.__self__ is model.pyfunc.get_raw_model()  # type: ignore[attr-defined]


def test_lightgbm_models_predict_from_their_booster_where_it_answers_alike(
    light: LoadedModel, light_labels: LoadedModel, light_classes: LoadedModel, tmp_path: Path
) -> None:
    for model in (light, light_labels, light_classes):
        assert "predict from its booster" in compile_fast_path(model)[1]
    # A ranker's predict is its own.
    ranker = lightgbm.LGBMRanker(n_estimators=5, n_jobs=1, verbose=-1)
    ranker.fit(FEATURES, LABELS, group=[len(LABELS)])
    trusted = ["lightgbm.sklearn.LGBMRanker"]
    model = saved(ranker, tmp_path / "ranker", mlflow.lightgbm, skops_trusted_types=trusted)
    fast, verdict = compile_fast_path(model)
    assert fast is not None and verdict.endswith("(30 double columns, LGBMRanker predict; batched)")
    assert fast.predict.__self__ is model.pyfunc.get_raw_model()  # type: ignore[attr-defined]


def test_models_the_fast_path_would_change_are_left_to_pyfunc(tmp_path: Path) -> None:
    by_name = ColumnTransformer([("scale", StandardScaler(), ["mean radius"])], remainder="drop")
    pipeline = Pipeline([("select", by_name), ("logreg", LogisticRegression())])
    model = saved(pipeline.fit(FEATURES, LABELS), tmp_path / "named")
    fast, verdict = compile_fast_path(model)
    assert fast is None and "by name" in verdict

    reordered = LogisticRegression(max_iter=5000).fit(FEATURES[list(reversed(COLUMNS))], LABELS)
    mlflow.sklearn.save_model(
        reordered,
        str(tmp_path / "reordered"),
        signature=infer_signature(FEATURES),
        pip_requirements=requirements(mlflow.sklearn),
    )
    model = LoadedModel("x", mlflow.pyfunc.load_model(str(tmp_path / "reordered")))
    fast, verdict = compile_fast_path(model)
    assert fast is None and "other columns" in verdict

    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(FEATURES, LABELS), 5)
    fast, verdict = compile_fast_path(saved(booster, tmp_path / "booster", mlflow.xgboost))
    assert fast is None and "Booster" in verdict

    # Fitted on a categorical column, though the signature says doubles: a frame's categories
    # are mapped to codes, an array's numbers are not.
    grouped = FEATURES.assign(**{"mean radius": (FEATURES["mean radius"] > 14).astype("category")})
    regressor = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(grouped, LABELS)
    mlflow.lightgbm.save_model(
        regressor,
        str(tmp_path / "categorical"),
        signature=infer_signature(FEATURES),
        pip_requirements=requirements(mlflow.lightgbm),
    )
    model = LoadedModel("x", mlflow.pyfunc.load_model(str(tmp_path / "categorical")))
    fast, verdict = compile_fast_path(model)
    assert fast is None and "categorical" in verdict


def test_batched_predictions_equal_unbatched_request_by_request(
    proba: LoadedModel, forest: LoadedModel, boosted: LoadedModel, light_booster: LoadedModel
) -> None:
    rng = np.random.default_rng(7)
    requests = [
        np.asfortranarray(FEATURES.sample(int(n), random_state=int(seed)).to_numpy())
        for n, seed in zip(rng.integers(1, 9, 40), rng.integers(0, 10_000, 40), strict=True)
    ]
    assert all(fast_of(model).row_exact for model in (forest, boosted, light_booster))
    assert not fast_of(proba).row_exact
    for model in (proba, forest, boosted, light_booster):
        fast = fast_of(model)
        calls: list[int] = []
        batcher = Batcher(fast.predict, max_rows=64 if fast.row_exact else 1, on_batch=calls.append)

        async def all_at_once(batcher: Batcher = batcher) -> list[object]:
            return await asyncio.gather(*(batcher.submit(rows) for rows in requests))

        batched = asyncio.run(all_at_once())
        if fast.row_exact:
            assert len(calls) < len(requests), "concurrent requests were merged"
        assert sum(calls) == sum(len(rows) for rows in requests), "every row, once"
        for rows, answer in zip(requests, batched, strict=True):
            alone = model.pyfunc.predict(pd.DataFrame(rows, columns=COLUMNS))
            assert encode_predictions(answer) == encode_predictions(alone)


def test_a_failing_request_fails_alone(forest: LoadedModel) -> None:
    fast = fast_of(forest)
    batcher = Batcher(fast.predict)
    good = FEATURES.head(2).to_numpy()
    bad = np.full((1, 30), 1e300)  # too large for the trees' float32: predict raises

    async def together() -> list[object]:
        return await asyncio.gather(
            batcher.submit(good), batcher.submit(bad), batcher.submit(good), return_exceptions=True
        )

    first, failed, last = asyncio.run(together())
    assert isinstance(failed, ValueError)
    assert encode_predictions(first) == encode_predictions(last)
    assert encode_predictions(first) == encode_predictions(fast.predict(good))
