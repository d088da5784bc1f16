"""The fast exact path's predict for scikit-learn's forests (random forests, extra trees).

A forest's predict hands each tree to joblib through scikit-learn's ``Parallel``, which wraps
every tree's call in a copy of the configuration and of the warning filters: with one job,
~55 µs a tree, 5.5 ms of a 100-tree forest's 6.7 ms for one row where its trees take 1.1.
With one job the trees run in order, each adding its answer to a float64 sum that starts at
zero, and the sum is divided by the number of trees; this does exactly that, tree by tree,
after the forest's own validation of the input, so the answer is the same bits. Each tree
answers from its ``tree_``, as its ``predict_proba`` (or ``predict``) does once past its own
checks (fitted, the number of features: ~6 µs a tree), which the forest's validation has made
for all of them: 0.4 ms for a 100-tree forest's row, 1.1 ms through each tree's method.

That is how this scikit-learn computes it, not a promise: at load, rows of noise go through
both, and a forest whose answer differs in any bit keeps its own predict. A forest with more
jobs sums in the order its threads finish, and keeps its own predict too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from servegate.replica.probe import answers_alike

CLASSIFIERS = (RandomForestClassifier, ExtraTreesClassifier)
REGRESSORS = (RandomForestRegressor, ExtraTreesRegressor)


def native_predict(forest: Any, predict_fn: str) -> Callable[[np.ndarray], Any] | None:
    """``forest``'s ``predict_fn`` with its trees summed here, or None where the forest's own
    is kept (not a forest, several jobs or outputs, another method, or an answer to the probe
    that differs from the forest's own)."""
    predict = _summed(forest, predict_fn)
    if predict is None:
        return None
    own = getattr(forest, predict_fn)
    return predict if answers_alike(predict, own, forest.n_features_in_) else None


def _summed(forest: Any, predict_fn: str) -> Callable[[np.ndarray], Any] | None:
    kind = type(forest)
    if kind not in CLASSIFIERS + REGRESSORS:
        return None
    if forest.n_jobs not in (None, 1) or forest.n_outputs_ != 1:
        return None
    if kind in CLASSIFIERS and predict_fn in ("predict", "predict_proba"):
        probabilities = _mean_of_trees(forest, int(forest.n_classes_))
        if predict_fn == "predict_proba":
            return probabilities
        classes = forest.classes_
        return lambda rows: classes.take(np.argmax(probabilities(rows), axis=1), axis=0)
    if kind in REGRESSORS and predict_fn == "predict":
        return _mean_of_trees(forest, None)
    return None


def _mean_of_trees(forest: Any, classes: int | None) -> Callable[[np.ndarray], np.ndarray]:
    """The mean of the trees' answers (``classes`` columns of probabilities, or one value a
    row), summed from zero in the forest's order, as the forest does with one job."""
    trees = [tree.tree_.predict for tree in forest.estimators_]

    def mean(rows: np.ndarray) -> np.ndarray:
        rows = forest._validate_X_predict(rows)
        shape = (rows.shape[0], classes) if classes is not None else rows.shape[0]
        total = np.zeros(shape, dtype=np.float64)
        for predict in trees:
            answer = predict(rows)  # a row of values per input row, one output's
            total += answer[:, :classes] if classes is not None else answer[:, 0]
        total /= len(trees)
        return total

    return mean
