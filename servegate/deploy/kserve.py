"""The KServe form: each served model as an ``InferenceService`` with a custom predictor.

The predictor runs the same replica container as the plain Deployment. KServe's own
autoscaler then scales on requests in flight (``scaleMetric: concurrency``, a target of one
replica's slots), which is the signal servegate's local backend uses, and can scale to zero
(``minReplicas: 0``) where an HPA cannot. The traffic split between served models is still
the gateway's (``routes.json``); KServe's ``canaryTrafficPercent`` splits between revisions
of one InferenceService, a different thing.
"""

from __future__ import annotations

from typing import Any

from servegate.deploy.kubernetes import (
    PORT,
    REPLICA_SLOTS,
    ManifestOptions,
    bounds_of,
    metadata,
    pod_security,
    replica_container,
    served_model_manifests,
    tmp_volume,
)
from servegate.deploy.sources import EndpointSpec
from servegate.endpoint_config import ServedEntitySpec

API_VERSION = "serving.kserve.io/v1beta1"
LOAD_GRACE_S = 300


def predictor_container(
    endpoint: EndpointSpec, entity: ServedEntitySpec, options: ManifestOptions
) -> dict[str, Any]:
    """The replica container as Knative takes it: one port named ``http1``, probes on the
    port number, and no startup probe (the liveness probe waits for the model instead)."""
    container = replica_container(endpoint.name, entity, options, name="kserve-container")
    container["ports"] = [{"name": "http1", "containerPort": PORT, "protocol": "TCP"}]
    del container["startupProbe"]
    for probe in ("readinessProbe", "livenessProbe"):
        container[probe]["httpGet"]["port"] = PORT
    container["livenessProbe"]["initialDelaySeconds"] = LOAD_GRACE_S
    return container


def inference_services(endpoint: EndpointSpec, options: ManifestOptions) -> list[dict[str, Any]]:
    services = []
    for entity in endpoint.config.served_entities:
        deployment = served_model_manifests(endpoint, entity, options)[0]
        meta = deployment["metadata"]
        bounds = bounds_of(entity)
        services.append(
            {
                "apiVersion": API_VERSION,
                "kind": "InferenceService",
                "metadata": metadata(
                    meta["name"], options, meta["labels"], annotations=meta["annotations"]
                ),
                "spec": {
                    "predictor": {
                        "minReplicas": bounds.min_replicas,
                        "maxReplicas": bounds.max_replicas,
                        "scaleMetric": "concurrency",
                        "scaleTarget": REPLICA_SLOTS,
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(),
                        "containers": [predictor_container(endpoint, entity, options)],
                        "volumes": [tmp_volume()],
                    }
                },
            }
        )
    return services
