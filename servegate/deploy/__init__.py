"""Ways to put endpoints elsewhere: MLflow's deployments plugin (``mlflow_plugin``)."""
