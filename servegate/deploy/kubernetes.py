"""Kubernetes manifests for endpoints: pure functions from endpoint configs to object dicts.

Each served model becomes a Deployment of replicas (each a complete MLflow scoring server),
a Service in front of it, a HorizontalPodAutoscaler when its bounds leave room to scale and
a PodDisruptionBudget when it always runs more than one pod. Sizes follow the local
backend's policy (``reconciler/autoscaling.py``): a replica answers ``REPLICA_SLOTS``
requests at once, and ``workload_size`` or ``min/max_provisioned_concurrency`` divided by
that is the replica range. ``workload_type`` chooses what one pod gets (``RESOURCES``).

Nothing secret is ever written: ``{{secrets/scope/key}}`` in ``environment_vars`` becomes a
``secretKeyRef`` to the Secret ``servegate-SCOPE`` (``naming.secret_name``), key ``key``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servegate import __version__
from servegate.deploy.naming import image_name, label_value, secret_name, served_model_name
from servegate.deploy.sources import EndpointSpec
from servegate.endpoint_config import FEATURE_SPEC_VERSION, ServedEntitySpec
from servegate.errors import InvalidParameterValue
from servegate.reconciler.autoscaling import (
    MODEL_REPLICA_CONCURRENCY,
    ScalingBounds,
    scaling_bounds,
)
from servegate.registry.references import is_version_number
from servegate.store.secrets import secret_reference

KUBERNETES_VERSION = "1.33.0"  # the API the manifests are written for, and tested against
PORT = 8080
REPLICA_SLOTS = MODEL_REPLICA_CONCURRENCY
DEFAULT_IMAGE = f"servegate:{__version__}"
RUN_AS = 10001  # the non-root user of servegate's images (``servegate build``)
BAKED_MODEL_DIR = "/model"
CPU_TARGET_PERCENT = 70
SCALE_DOWN_WINDOW_S = 60  # as the local backend's scale_down_delay_s
REPLICAS_CONFIG = "servegate-replicas"  # ConfigMap: MLFLOW_TRACKING_URI for replicas
REGISTRY_TOKEN_SECRET = "servegate-registry-token"  # Secret: key "token", optional
GATEWAY = "servegate-gateway"
LABEL_ENDPOINT = "servegate.io/endpoint"
LABEL_SERVED = "servegate.io/served-model"

# workload_type → what one replica pod gets: (cpu request, memory, GPUs). Memory request
# and limit are equal (no overcommit of the one resource that kills a pod when short);
# CPU has no limit, so a replica can burst without being throttled.
RESOURCES: dict[str, tuple[str, str, int]] = {
    "CPU": ("1", "2Gi", 0),
    "CPU_MEDIUM": ("2", "4Gi", 0),
    "CPU_LARGE": ("4", "8Gi", 0),
    "GPU_SMALL": ("4", "16Gi", 1),
    "GPU_MEDIUM": ("8", "32Gi", 1),
    "GPU_LARGE": ("12", "64Gi", 1),
    "GPU_XLARGE": ("16", "128Gi", 2),
    "GPU_XLARGE_8": ("32", "256Gi", 8),
    "MULTIGPU_MEDIUM": ("16", "64Gi", 4),
}


@dataclass(frozen=True)
class ManifestOptions:
    """How to write the manifests.

    ``image``: the servegate image; its replicas download ``models:/NAME/VERSION`` from the
    registry at start. ``model_images``: a repository prefix instead, for the images
    ``servegate build`` makes (``PREFIX/servegate-model-NAME:VERSION``, the model inside).
    """

    image: str = DEFAULT_IMAGE
    model_images: str | None = None
    namespace: str | None = None
    registry_uri: str | None = None  # default: the gateway's embedded registry
    home_storage: str = "10Gi"
    kserve: bool = False  # served models as InferenceServices (see servegate.deploy.kserve)


def model_uri(entity: ServedEntitySpec) -> str:
    version = entity.entity_version
    if version.startswith("@"):
        return f"models:/{entity.entity_name}{version}"
    return f"models:/{entity.entity_name}/{version}"


def model_image(prefix: str, entity: ServedEntitySpec) -> str:
    """The image ``servegate build`` names for a model version, under ``prefix`` if any."""
    image = f"servegate-model-{image_name(entity.entity_name)}:{entity.entity_version}"
    return f"{prefix.rstrip('/')}/{image}" if prefix else image


def bounds_of(entity: ServedEntitySpec) -> ScalingBounds:
    return scaling_bounds(entity.runtime_fields(), REPLICA_SLOTS)


def metadata(name: str, options: ManifestOptions, labels: dict[str, str], **more: Any) -> dict:
    body: dict[str, Any] = {"name": name, "labels": labels, **more}
    if options.namespace:
        body["namespace"] = options.namespace
    return body


def common_labels(component: str, instance: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"servegate-{component}",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "servegate",
        "app.kubernetes.io/managed-by": "servegate",
        "app.kubernetes.io/version": __version__,
    }


def selector(component: str, instance: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": f"servegate-{component}",
        "app.kubernetes.io/instance": instance,
    }


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def http_probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def probes() -> dict[str, Any]:
    """Ready once ``/ping`` answers (the replica loads its model before it listens); alive
    while ``/health`` does; up to ten minutes to load first (``replica_start_timeout_s``)."""
    return {
        "startupProbe": http_probe("/ping", 5, 120),
        "readinessProbe": http_probe("/ping", 5, 3),
        "livenessProbe": http_probe("/health", 10, 3),
    }


def resources(workload_type: str) -> dict[str, Any]:
    cpu, memory, gpus = RESOURCES[workload_type]
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    limits: dict[str, str] = {"memory": memory}
    if gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(gpus)
    return {"requests": requests, "limits": limits}


def env_var(name: str, value: str) -> dict[str, Any]:
    reference = secret_reference(value)
    if reference is None:
        return {"name": name, "value": value}
    scope, key = reference
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name(scope), "key": key}}}


def replica_args(endpoint: str, entity: ServedEntitySpec, source: str) -> list[str]:
    args = ["servegate", "replica", source, "--host", "0.0.0.0", "--port", str(PORT)]
    args += ["--concurrency", str(REPLICA_SLOTS)]
    args += ["--metrics-endpoint", endpoint, "--metrics-served", entity.name]
    if entity.max_batch_rows is not None:
        args += ["--max-batch-rows", str(entity.max_batch_rows)]
    if entity.max_batch_wait_ms is not None:
        args += ["--batch-wait-ms", str(entity.max_batch_wait_ms)]
    return args


def replica_container(
    endpoint: str, entity: ServedEntitySpec, options: ManifestOptions, name: str = "replica"
) -> dict[str, Any]:
    """The replica's container: the same in a Deployment and in a KServe predictor."""
    if entity.entity_version == FEATURE_SPEC_VERSION:
        raise InvalidParameterValue(
            f"Served model {entity.name!r} of endpoint {endpoint!r} is a feature spec; "
            "feature serving has no Kubernetes manifests yet (it needs the online store)."
        )
    env = [{"name": "HOME", "value": "/tmp"}]
    if options.model_images:
        if not is_version_number(entity.entity_version):
            raise InvalidParameterValue(
                f"Served model {entity.name!r} of endpoint {endpoint!r} follows "
                f"{entity.entity_version!r}; an image holds one fixed version, so "
                "--model-images needs numbered versions (or drop it to follow the registry)."
            )
        image, source = model_image(options.model_images, entity), BAKED_MODEL_DIR
    else:
        image, source = options.image, model_uri(entity)
        env += [
            {
                "name": "MLFLOW_TRACKING_URI",
                "valueFrom": {
                    "configMapKeyRef": {"name": REPLICAS_CONFIG, "key": "MLFLOW_TRACKING_URI"}
                },
            },
            {
                "name": "MLFLOW_TRACKING_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": REGISTRY_TOKEN_SECRET,
                        "key": "token",
                        "optional": True,
                    }
                },
            },
        ]
    env += [env_var(key, value) for key, value in sorted(entity.environment_vars.items())]
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": replica_args(endpoint, entity, source),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "resources": resources(entity.workload_type),
        **probes(),
        "securityContext": container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def tmp_volume() -> dict[str, Any]:
    """The one writable place: downloaded artifacts and scratch files."""
    return {"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}}


def served_model_manifests(
    endpoint: EndpointSpec, entity: ServedEntitySpec, options: ManifestOptions
) -> list[dict[str, Any]]:
    """Deployment, Service, and (when they apply) HorizontalPodAutoscaler and
    PodDisruptionBudget of one served model."""
    name = served_model_name(endpoint.name, entity.name)
    labels = {
        **common_labels("replica", name),
        LABEL_ENDPOINT: label_value(endpoint.name),
        LABEL_SERVED: label_value(entity.name),
    }
    traffic = {r.served_entity_name: r.traffic_percentage for r in endpoint.config.routes}

    annotations = {
        LABEL_ENDPOINT: endpoint.name,
        LABEL_SERVED: entity.name,
        "servegate.io/model-uri": model_uri(entity),
        "servegate.io/traffic-percentage": str(traffic.get(entity.name, 0)),
        "servegate.io/workload-size": entity.workload_size,
        "servegate.io/scale-to-zero-enabled": str(entity.scale_to_zero_enabled).lower(),
    }
    meta = metadata(name, options, labels, annotations=annotations)
    bounds = bounds_of(entity)
    scaled = bounds.max_replicas > bounds.floor
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
        "terminationGracePeriodSeconds": 60,
        "containers": [replica_container(endpoint.name, entity, options)],
        "volumes": [tmp_volume()],
    }
    if bounds.max_replicas > 1:
        pod_spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector("replica", name)},
            }
        ]
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector("replica", name)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},  # never below the count
        },
        "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec},
    }
    if not scaled:  # with an HPA, the HPA owns the count (kubectl apply would fight it)
        deployment_spec["replicas"] = bounds.floor
    manifests = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": deployment_spec},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": selector("replica", name),
                "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
    ]
    if scaled:
        manifests.append(autoscaler(name, meta, bounds))
    if bounds.floor > 1:
        manifests.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta,
                "spec": {"minAvailable": 1, "selector": {"matchLabels": selector("replica", name)}},
            }
        )
    return manifests


def autoscaler(name: str, meta: dict[str, Any], bounds: ScalingBounds) -> dict[str, Any]:
    """CPU-based: the in-flight signal the local backend scales by is not exported per pod
    yet. Scale to zero is not expressible (an HPA's floor is 1); the KServe form has it."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": bounds.floor,
            "maxReplicas": bounds.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": SCALE_DOWN_WINDOW_S}},
        },
    }


def endpoint_manifests(endpoint: EndpointSpec, options: ManifestOptions) -> list[dict[str, Any]]:
    return [
        manifest
        for entity in endpoint.config.served_entities
        for manifest in served_model_manifests(endpoint, entity, options)
    ]


def service_url(endpoint: str, served: str, suffix: str, kserve: bool = False) -> str:
    """Where the gateway reaches a served model in the cluster: its Service, or the
    predictor Service KServe makes for an InferenceService (port 80)."""
    if kserve:
        return f"http://{served_model_name(endpoint, served)}-predictor{suffix}"
    return f"http://{served_model_name(endpoint, served)}{suffix}:{PORT}"


def routes(endpoints: list[EndpointSpec], options: ManifestOptions) -> dict[str, Any]:
    """Each endpoint's served models: their Services (in-cluster URLs), the model their pods
    serve and their share of the traffic — what the gateway's Kubernetes backend routes by."""
    suffix = f".{options.namespace}.svc" if options.namespace else ""
    return {
        "endpoints": {
            endpoint.name: {
                "routes": [
                    {
                        "served_model_name": entity.name,
                        "traffic_percentage": _traffic(endpoint, entity.name),
                        "url": service_url(endpoint.name, entity.name, suffix, options.kserve),
                        "model_uri": model_uri(entity),
                    }
                    for entity in endpoint.config.served_entities
                ]
            }
            for endpoint in endpoints
        }
    }


def _traffic(endpoint: EndpointSpec, served: str) -> int:
    return next(
        (r.traffic_percentage for r in endpoint.config.routes if r.served_entity_name == served),
        0,
    )


def required_secrets(endpoints: list[EndpointSpec]) -> dict[str, set[str]]:
    """Secret name → keys the served models' environment variables reference."""
    needed: dict[str, set[str]] = {}
    for endpoint in endpoints:
        for entity in endpoint.config.served_entities:
            for value in entity.environment_vars.values():
                reference = secret_reference(value)
                if reference is not None:
                    needed.setdefault(secret_name(reference[0]), set()).add(reference[1])
    return needed
