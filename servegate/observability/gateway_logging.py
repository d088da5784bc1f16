"""How the gateway's own processes log: one format, to stderr, in every worker too."""

from __future__ import annotations

import logging


def configure_gateway_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
