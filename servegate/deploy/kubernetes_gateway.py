"""The gateway's Kubernetes objects: ConfigMaps, a home volume, a Deployment and a Service.

The gateway runs as one pod (``Recreate``: its home volume is ReadWriteOnce and holds the
SQLite store and the embedded registry). Its admin token and, when given, its store URL
come from Secrets by reference (``servegate-admin``/``token``, ``servegate-store``/``url``);
the manifests never hold their values.

What the gateway does not do yet: route to the replica Services. Its data plane still
serves endpoints created through its own API with replicas it runs itself, in its pod. The
``routes.json`` key of its ConfigMap records each endpoint's traffic split over the replica
Services for the Kubernetes backend that will read it; until then, callers reach a served
model at its Service (a complete MLflow scoring server).
"""

from __future__ import annotations

import json
from typing import Any

from servegate.deploy.kubernetes import (
    GATEWAY,
    PORT,
    REPLICAS_CONFIG,
    ManifestOptions,
    common_labels,
    container_security,
    http_probe,
    metadata,
    pod_security,
    routes,
    selector,
    tmp_volume,
)
from servegate.deploy.sources import EndpointSpec

HOME = "/var/lib/servegate"
ADMIN_SECRET = "servegate-admin"  # key "token"
STORE_SECRET = "servegate-store"  # key "url" (optional: SQLite in the home volume without)


def gateway_url(options: ManifestOptions) -> str:
    suffix = f".{options.namespace}.svc" if options.namespace else ""
    return f"http://{GATEWAY}{suffix}:{PORT}"


def gateway_manifests(
    endpoints: list[EndpointSpec], options: ManifestOptions
) -> list[dict[str, Any]]:
    labels = common_labels("gateway", GATEWAY)
    settings = {
        "SERVEGATE_HOST": "0.0.0.0",
        "SERVEGATE_PORT": str(PORT),
        "SERVEGATE_HOME": HOME,
        "SERVEGATE_LOG_FORMAT": "json",
    }
    if options.registry_uri:
        settings["SERVEGATE_REGISTRY_URI"] = options.registry_uri
    secret_env = [
        {"name": "HOME", "value": "/tmp"},
        {
            "name": "SERVEGATE_ADMIN_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "token"}},
        },
        {
            "name": "SERVEGATE_STORE_URL",
            "valueFrom": {"secretKeyRef": {"name": STORE_SECRET, "key": "url", "optional": True}},
        },
    ]
    container = {
        "name": "gateway",
        "image": options.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["servegate", "serve"],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": GATEWAY}}],
        "env": secret_env,
        "resources": {
            "requests": {"cpu": "1", "memory": "2Gi"},
            "limits": {"memory": "4Gi"},
        },
        "startupProbe": http_probe("/ping", 5, 60),
        "readinessProbe": http_probe("/ping", 5, 3),
        "livenessProbe": http_probe("/health", 10, 3),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "home", "mountPath": HOME},
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(GATEWAY, options, labels),
            "data": {**settings, "routes.json": json.dumps(routes(endpoints, options), indent=2)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(REPLICAS_CONFIG, options, common_labels("replica", "shared")),
            "data": {"MLFLOW_TRACKING_URI": options.registry_uri or gateway_url(options)},
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": metadata(f"{GATEWAY}-home", options, labels),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": options.home_storage}},
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(GATEWAY, options, labels),
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector("gateway", GATEWAY)},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(),
                        "terminationGracePeriodSeconds": 60,
                        "containers": [container],
                        "volumes": [
                            tmp_volume(),
                            {
                                "name": "home",
                                "persistentVolumeClaim": {"claimName": f"{GATEWAY}-home"},
                            },
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(GATEWAY, options, labels),
            "spec": {
                "type": "ClusterIP",
                "selector": selector("gateway", GATEWAY),
                "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
    ]
