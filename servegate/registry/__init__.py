"""The MLflow model registry: embedded in the gateway, or an external MLflow server."""
