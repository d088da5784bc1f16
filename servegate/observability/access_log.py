"""One line per request, when ``access_log`` is on (off by default: the hot path writes no
log otherwise). In JSON logs each part is its own field."""

from __future__ import annotations

import logging

from starlette.requests import Request

logger = logging.getLogger("servegate.access")


def log_access(
    request: Request, status: int, elapsed_s: float, served: str, caller: str | None = None
) -> None:
    fields = {
        "method": request.method,
        "path": request.url.path,
        "status": status,
        "duration_ms": round(elapsed_s * 1000, 3),
        "served_model": served,
    }
    if caller is not None:
        fields["caller"] = caller
    logger.info(" ".join(f"{key}={value}" for key, value in fields.items()), extra=fields)
