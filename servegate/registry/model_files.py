"""Single files of a registered model version's artifacts (``MLmodel``, its example)."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

_PROXIED = "mlflow-artifacts:"


class ModelFiles:
    """Reads in place from the embedded registry's artifact folder, or downloads one file at
    a time into ``scratch`` (never the whole model)."""

    def __init__(
        self, tracking_uri: str, proxied_root: Path | None, name: str, version: str, scratch: Path
    ) -> None:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.source = client.get_model_version_download_uri(name, version).rstrip("/")
        self.tracking_uri = tracking_uri
        self.proxied_root = proxied_root
        self.scratch = scratch

    def path(self, relative: str) -> Path:
        if self.source.startswith(_PROXIED) and self.proxied_root is not None:
            return self.proxied_root / self.source.removeprefix(_PROXIED).lstrip("/") / relative
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"{self.source}/{relative}",
                dst_path=str(self.scratch),
                tracking_uri=self.tracking_uri,
            )
        )
