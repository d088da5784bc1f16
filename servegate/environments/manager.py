"""Which Python a replica runs its model in, and the one way preparing it fails."""

from __future__ import annotations

from enum import Enum


class EnvManager(str, Enum):
    LOCAL = "local"  # the server's own Python and libraries
    VIRTUALENV = "virtualenv"  # a virtualenv with the model's own requirements (uv)


class EnvironmentFailed(Exception):
    """The model's environment cannot be had; the message says why, on one line."""
