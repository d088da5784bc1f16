"""scikit-learn's question "is this input a dataframe?", answered at once for numpy arrays.

Since 1.9, scikit-learn asks narwhals, for the input of every step of every predict, whether
it is a dataframe or a series (``check_array``, ``_get_feature_names``). For a numpy array
narwhals looks for its marker attributes with ``inspect.getattr_static``, tries each
dataframe library it knows and each installed plugin, and answers no, at ~20-35 µs a
question, four to six questions a predict: half of a 1-row predict of a scaler and a
logistic regression (304 → 138 µs with the questions about arrays answered at once).

The answer for a plain ``numpy.ndarray`` is fixed by its type: it has no instance
attributes, its type derives from no dataframe library's, and only a narwhals plugin could
claim it. So the short answer is put in only when no plugin is installed and narwhals itself
says no for a matrix and a vector; anything that is not exactly an ``ndarray`` (a DataFrame,
a subclass, a list) is still asked of narwhals. A model's own environment without narwhals
(a scikit-learn from before 1.9) is left as it is.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import numpy as np

_ASKED = "narwhals.stable.v2.dependencies"  # the module scikit-learn asks, at call time
_PLUGINS = "narwhals.plugins"
_QUESTIONS = ("is_into_dataframe", "is_into_series")


def answer_arrays_at_once() -> str:
    """Have narwhals' dataframe and series questions answer no at once for a numpy array,
    when that is certainly its answer; what was done, for the build log."""
    try:  # a model's own environment may hold a scikit-learn that asks nothing of narwhals
        asked = importlib.import_module(_ASKED)
    except ImportError:
        return f"not asked ({_ASKED} is not installed)"
    plugins = sorted(entry.name for entry in entry_points(group=_PLUGINS))
    if plugins:
        return f"asked of narwhals (plugins installed: {', '.join(plugins)})"
    waiting = [
        name for name in _QUESTIONS if not getattr(getattr(asked, name), "arrays_answered", False)
    ]  # a replica loading a second model, or tests loading many, find some answered
    for name in waiting:
        if any(getattr(asked, name)(sample) for sample in (np.zeros((1, 2)), np.zeros(2))):
            return f"asked of narwhals ({name} takes a numpy array)"
    for name in waiting:
        setattr(asked, name, _arrays_answered(getattr(asked, name)))
    return "numpy arrays answered at once, anything else asked of narwhals"


def _arrays_answered(question: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def answer(candidate: Any) -> bool:
        return False if type(candidate) is np.ndarray else question(candidate)

    answer.arrays_answered = True  # type: ignore[attr-defined]
    answer.__wrapped__ = question  # type: ignore[attr-defined]
    return answer
