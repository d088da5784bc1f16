"""Where every process of one gateway writes its metrics (see ``observability.metrics``).

Kept apart from the metrics themselves: the directory must be set before prometheus_client
is imported, which reads it then.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(path: Path) -> None:
    """Start a gateway run with an empty metrics directory, for it and all its processes."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_VARIABLE] = str(path)
