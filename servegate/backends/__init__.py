"""Where replicas run: local child processes today; Ray Serve and Kubernetes behind the same
interface (``Backend``)."""
