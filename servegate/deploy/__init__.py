"""Ways to put endpoints elsewhere: Kubernetes manifests (``kubernetes``, ``kserve``), Docker
build contexts (``build_context``) and MLflow's deployments plugin (``mlflow_plugin``)."""
