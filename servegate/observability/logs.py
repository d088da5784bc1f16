"""Where each replica's logs live: ``$SERVEGATE_HOME/logs/{endpoints|models}/NAME/``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote


def endpoint_group(endpoint: str) -> str:
    return f"endpoints/{endpoint}"


def model_group(model_name: str) -> str:
    return f"models/{quote(model_name, safe='')}"


class LogPaths:
    def __init__(self, root: Path) -> None:
        self.root = root

    def log(self, group: str, replica: str) -> Path:
        """The replica's stdout and stderr."""
        return self.root / group / f"{quote(replica, safe='@')}.log"

    def build_log(self, group: str, replica: str) -> Path:
        """Model download and load steps, with timings."""
        return self.root / group / f"{quote(replica, safe='@')}.build.log"
