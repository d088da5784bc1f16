"""scikit-learn's dataframe questions, answered at once for numpy arrays, answer exactly what
narwhals answers, and are left to narwhals whenever that could differ."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import narwhals.stable.v2.dependencies as asked
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as numpy_st
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from servegate.replica.array_questions import answer_arrays_at_once

# The pipeline is fitted on a frame and asked about arrays, as the fast path asks it.
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")

QUESTIONS = ("is_into_dataframe", "is_into_series")
Question = Callable[[Any], bool]


@pytest.fixture
def narwhals_own(monkeypatch: pytest.MonkeyPatch) -> dict[str, Question]:
    """narwhals' own questions, put back in place for the test and left as they were after."""
    own = {}
    for name in QUESTIONS:
        question = getattr(asked, name)
        own[name] = getattr(question, "__wrapped__", question)
        monkeypatch.setattr(asked, name, own[name])
    return own


class Subclassed(np.ndarray):
    """A numpy array subclass, as libraries make them: narwhals is still asked about it."""


ARRAYS = numpy_st.arrays(
    st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.object_]),
    numpy_st.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
FRAME = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
OTHERS = [
    FRAME,
    FRAME["a"],
    FRAME.index,
    pa.table({"a": [1.0]}),
    pa.chunked_array([[1.0]]),
    np.zeros((2, 2)).view(Subclassed),
    np.ma.masked_array([1.0, 2.0]),
    [[1.0, 2.0]],
    None,
]


@settings(
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(candidate=st.one_of(ARRAYS, st.sampled_from(OTHERS)))
def test_the_answers_are_narwhals_own(narwhals_own: dict[str, Question], candidate: Any) -> None:
    answered = answer_arrays_at_once()
    assert answered == "numpy arrays answered at once, anything else asked of narwhals"
    for name, own in narwhals_own.items():
        question = getattr(asked, name)
        assert question is not own and question.arrays_answered  # in place, once
        assert question(candidate) == own(candidate), (name, type(candidate))
    assert asked.is_into_dataframe(FRAME) and asked.is_into_series(FRAME["a"])


def test_a_pipeline_predicts_the_same_bits(narwhals_own: dict[str, Question]) -> None:
    features, labels = load_breast_cancer(return_X_y=True, as_frame=True)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(features, labels)
    rows = [features.iloc[i : i + 1] for i in range(0, 60, 3)]
    asked_of_narwhals = [pipeline.predict_proba(row.to_numpy()) for row in rows]
    answer_arrays_at_once()
    answered = [pipeline.predict_proba(row.to_numpy()) for row in rows]
    assert [a.tobytes() for a in answered] == [a.tobytes() for a in asked_of_narwhals]
    # Fitted on a frame: a frame is still recognised as one, its columns checked by name.
    with pytest.raises(ValueError, match="feature names"):
        pipeline.predict(features.iloc[:1, ::-1])


def test_a_narwhals_plugin_leaves_the_questions_to_narwhals(
    narwhals_own: dict[str, Question], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installed = tmp_path / "narwhals_daft-0.5.0.dist-info"
    installed.mkdir()
    (installed / "METADATA").write_text("Metadata-Version: 2.1\nName: narwhals-daft\n")
    (installed / "entry_points.txt").write_text("[narwhals.plugins]\nnarwhals-daft = dft\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    answered = answer_arrays_at_once()
    assert answered == "asked of narwhals (plugins installed: narwhals-daft)"
    assert [getattr(asked, name) for name in QUESTIONS] == list(narwhals_own.values())


def test_a_narwhals_that_takes_arrays_is_asked(
    narwhals_own: dict[str, Question], monkeypatch: pytest.MonkeyPatch
) -> None:
    def takes_vectors(candidate: Any) -> bool:
        return isinstance(candidate, np.ndarray) and candidate.ndim == 1

    monkeypatch.setattr(asked, "is_into_series", takes_vectors)
    answered = answer_arrays_at_once()
    assert answered == "asked of narwhals (is_into_series takes a numpy array)"
    assert asked.is_into_dataframe is narwhals_own["is_into_dataframe"]  # none half answered
    assert asked.is_into_series is takes_vectors


def test_without_narwhals_nothing_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model's own environment may hold a scikit-learn from before narwhals: its replica
    still starts."""
    monkeypatch.setitem(sys.modules, "narwhals.stable.v2.dependencies", None)
    answered = answer_arrays_at_once()
    assert answered == "not asked (narwhals.stable.v2.dependencies is not installed)"
