"""The gateway's Kubernetes objects: ConfigMaps, a home volume, a Deployment and a Service.

The gateway runs as one pod (``Recreate``: its home volume is ReadWriteOnce and holds the
SQLite store and the embedded registry). Its admin token and, when given, its store URL
come from Secrets by reference (``servegate-admin``/``token``, ``servegate-store``/``url``);
the manifests never hold their values.

The gateway runs the Kubernetes backend (``servegate.backends.kubernetes_services``): it
routes each served model's share of the traffic to its Service, as the ``routes.json`` key
of the ConfigMap ``servegate-routes`` says (mounted as a file, which Kubernetes refreshes
when the ConfigMap changes), and runs no replica itself.
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
ROUTES = "servegate-routes"  # a ConfigMap of its own: its key is no environment variable
ROUTES_DIR = "/etc/servegate/routes"
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
        "SERVEGATE_BACKEND": "kubernetes",
        "SERVEGATE_ROUTES_FILE": f"{ROUTES_DIR}/routes.json",
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
            {"name": "routes", "mountPath": ROUTES_DIR, "readOnly": True},
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(GATEWAY, options, labels),
            "data": settings,
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(ROUTES, options, labels),
            "data": {"routes.json": json.dumps(routes(endpoints, options), indent=2)},
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
                            {
                                "name": "routes",
                                "configMap": {
                                    "name": ROUTES,
                                    "items": [{"key": "routes.json", "path": "routes.json"}],
                                },
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
