"""servegate: self-hosted real-time serving for MLflow models."""

__version__ = "0.1.0"
