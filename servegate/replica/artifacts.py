"""Getting a model's artifacts onto local disk, cached for registered versions.

A registered model version's artifacts never change, so ``models:/NAME/VERSION`` is
downloaded once into the cache and reused by every later replica of it (restarts, scale-out,
other endpoints). Any other URI is downloaded into a temporary folder for this process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import mlflow

from servegate.registry.references import REGISTERED_VERSION
from servegate.replica.buildlog import BuildLog

_MARKER = ".servegate-complete"


@dataclass(frozen=True)
class LocalArtifacts:
    path: Path
    temporary: Path | None  # a folder to remove when the process ends

    def cleanup(self) -> None:
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)


def _download(model_uri: str, into: Path, build_log: BuildLog) -> Path:
    with build_log.timed("downloaded artifacts"):
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(into)))


def fetch_artifacts(model_uri: str, cache_dir: Path | None, build_log: BuildLog) -> LocalArtifacts:
    """The model's folder on local disk; registered versions come from ``cache_dir`` if given."""
    build_log.write(f"resolving {model_uri}")
    match = REGISTERED_VERSION.match(model_uri)
    if cache_dir is None or match is None:
        folder = Path(tempfile.mkdtemp(prefix="servegate-model-"))
        try:
            return LocalArtifacts(_download(model_uri, folder, build_log), folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    target = cache_dir / quote(match["name"], safe="") / match["version"]
    marker = target / _MARKER
    if marker.exists():
        build_log.write(f"using cached artifacts of {model_uri} from {target}")
        return LocalArtifacts(target / marker.read_text(), None)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".download-"))
    try:
        model_dir = _download(model_uri, staging, build_log)
        (staging / _MARKER).write_text(str(model_dir.relative_to(staging)))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, target)
        except OSError:  # another replica of this version finished first: use its copy
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return LocalArtifacts(target / marker.read_text(), None)
