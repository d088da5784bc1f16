"""How servegate's processes log: one handler on stderr, text or JSON lines, the request id
(``request_ids``) on every line written while a request is handled.

Uvicorn's own loggers are left unconfigured by it (``log_config=None``) so that they share
this format.
"""

from __future__ import annotations

import logging
import sys
from enum import Enum

from pythonjsonlogger.json import JsonFormatter

from servegate.observability import request_ids

ACCESS_LOGGER = "servegate.access"


class LogFormat(str, Enum):
    TEXT = "text"
    JSON = "json"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_ids.current.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return line if request_id is None else f"{line} request_id={request_id}"


def configure_logging(log_format: LogFormat = LogFormat.TEXT) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if log_format is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("uvicorn", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
