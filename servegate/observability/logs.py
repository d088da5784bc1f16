"""Where each served model's logs live under ``$SERVEGATE_HOME/logs``."""

from __future__ import annotations

from pathlib import Path


class LogPaths:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, endpoint: str) -> Path:
        return self.root / endpoint

    def log(self, endpoint: str, served: str) -> Path:
        """The replica's stdout and stderr."""
        return self.directory(endpoint) / f"{served}.log"

    def build_log(self, endpoint: str, served: str) -> Path:
        """Model download, environment and load steps, with timings."""
        return self.directory(endpoint) / f"{served}.build.log"
