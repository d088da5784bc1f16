"""A servegate replica as a Ray Serve deployment: the scoring app a replica process serves
(``servegate.replica.served``), loaded when Ray starts each of the deployment's replicas.

This module runs in Ray's workers; ``servegate.backends.ray_serve`` deploys it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.serve._private import replica as serve_replica
from starlette.types import ASGIApp

from servegate.replica.buildlog import BuildLog
from servegate.replica.served import ReplicaOptions, load_served_app

_EVERY_INTERFACE = "[::]:"


def _bind_replica_grpc_to_node_address() -> None:
    """Ray Serve 2.60 binds each replica's inter-deployment gRPC server to every interface
    (``"[::]:0"`` in ``ray.serve._private.replica``), where Ray's own servers bind to the
    node's address. Bind it to the node's address too, so a cluster kept on 127.0.0.1
    (see docs/deploy.md) stays there; the replica publishes that address to its callers."""
    original = getattr(serve_replica, "add_port_to_grpc_server", None)
    if original is None or getattr(original, "binds_node_address", False):
        return

    def bind(server: Any, address: str) -> int:
        if address.startswith(_EVERY_INTERFACE):
            host = ray.util.get_node_ip_address()
            host = f"[{host}]" if ":" in host else host
            address = f"{host}:{address.removeprefix(_EVERY_INTERFACE)}"
        port: int = original(server, address)
        return port

    bind.binds_node_address = True  # type: ignore[attr-defined]
    serve_replica.add_port_to_grpc_server = bind


@serve.deployment
@serve.ingress()
class ServedModelDeployment:
    """Loads in its constructor, so Ray counts a replica as started only once it can
    predict, and a model that does not load fails the deployment (its reason is the build
    log's last line, and Ray's message).

    The constructor runs before Serve starts the replica's gRPC server, in the replica's
    process (Ray ships this class by value, so code at this module's top level never runs
    there)."""

    def __init__(
        self,
        model_uri: str,
        options: ReplicaOptions,
        cache_dir: str | None,
        build_log: str | None,
    ) -> None:
        _bind_replica_grpc_to_node_address()
        log_path = Path(build_log) if build_log else None
        if log_path is not None and not log_path.parent.is_dir():
            log_path = None  # a node without the gateway's home: Ray's replica log has it all
        cache = Path(cache_dir) if cache_dir and Path(cache_dir).is_dir() else None
        self._served = load_served_app(model_uri, cache, BuildLog(log_path), options)

    def __serve_build_asgi_app__(self) -> ASGIApp:
        return self._served.app

    def __del__(self) -> None:
        if hasattr(self, "_served"):  # not when the model failed to load
            self._served.cleanup()
