"""Keep every test's MLflow state in a temporary folder, never in the working tree; let the
processes tests start be stopped with Ctrl-C's signal; no Hypothesis clocks."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import mlflow
import pytest
from hypothesis import HealthCheck, settings

# Hypothesis's clocks (a deadline per example, "input generation is slow") time the machine,
# not the code, and fail tests on a loaded one: off for every test. A test whose @settings
# names health checks of its own names too_slow there as well.
settings.register_profile("untimed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("untimed")


@pytest.fixture(scope="session", autouse=True)
def isolated_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    default = f"sqlite:///{tmp_path_factory.mktemp('mlflow-default') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", default)
        mlflow.set_tracking_uri(default)
        yield


# Tests stop CLIs with SIGINT, as a user's Ctrl-C would. A test run started in the background
# by a shell has SIGINT ignored, and a started process keeps an ignored signal ignored: it
# would never stop. Handled here, SIGINT is back to its default in what tests start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
