"""The control loop that makes running replicas match the stored endpoint configs."""
