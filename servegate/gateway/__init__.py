"""The gateway: one ASGI app with the control plane, the data plane front and the registry."""
