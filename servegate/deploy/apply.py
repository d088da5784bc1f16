"""Applying manifests to a cluster with the official Kubernetes client (server-side apply).

The client is an optional extra (``pip install "servegate[kubernetes]"``), imported only
here and only when asked to apply. The cluster comes from the in-cluster service account,
else the kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``), as kubectl finds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

FIELD_MANAGER = "servegate"


class ClusterUnavailable(Exception):
    """No cluster to apply to: the client is missing, none is configured, or it is unreachable."""


def _client() -> Any:
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError as error:
        raise ClusterUnavailable(
            'the Kubernetes client is not installed: pip install "servegate[kubernetes]"'
        ) from error
    try:
        config.load_incluster_config()
    except ConfigException:
        try:
            # read now: the client reads $KUBECONFIG once, when it is first imported
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
        except (ConfigException, OSError) as error:
            raise ClusterUnavailable(
                f"no Kubernetes cluster is configured (in-cluster or kubeconfig): {error}"
            ) from error
    return client.ApiClient()


def apply_manifests(
    manifests: list[dict[str, Any]], report: Callable[[str], None] = lambda line: None
) -> None:
    """Create or update each object in order; the first failure raises."""
    api = _client()
    from kubernetes.dynamic import DynamicClient
    from urllib3.exceptions import HTTPError

    host = api.configuration.host
    try:
        dynamic = DynamicClient(api)
    except HTTPError as error:
        raise ClusterUnavailable(f"the Kubernetes API at {host} is unreachable: {error}") from error
    for manifest in manifests:
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        resource = dynamic.resources.get(api_version=manifest["apiVersion"], kind=kind)
        namespace = manifest["metadata"].get("namespace", "default")
        resource.server_side_apply(
            body=manifest, name=name, namespace=namespace, field_manager=FIELD_MANAGER
        )
        report(f"applied {kind}/{name}")
