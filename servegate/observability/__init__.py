"""Logs, and later metrics and events, of endpoints and their replicas."""
