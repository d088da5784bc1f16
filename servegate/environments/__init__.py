"""Per-model Python environments: the server's own, or a virtualenv built from the model's
requirements with uv and cached by their hash."""

from servegate.environments.manager import EnvironmentFailed, EnvManager

__all__ = ["EnvManager", "EnvironmentFailed"]
