"""Rows of noise through two predicts: a predict of the fast path's own stands in for a model's
only where the two answer the same bits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

PROBE_ROWS = 64


def answers_alike(
    mine: Callable[[np.ndarray], Any], theirs: Callable[[np.ndarray], Any], features: int
) -> bool:
    """Whether ``mine`` answers what ``theirs`` does for rows of noise, bit for bit: the same
    dtype, shape and bytes (anything either raises: no)."""
    probe = np.random.default_rng(0).normal(size=(PROBE_ROWS, features))
    try:
        expected, got = theirs(probe), mine(probe)
    except Exception:  # noqa: BLE001 - whatever fails here, the model's own predict stays
        return False
    return (
        isinstance(expected, np.ndarray)
        and isinstance(got, np.ndarray)
        and got.dtype == expected.dtype
        and got.shape == expected.shape
        and got.tobytes() == expected.tobytes()
    )
