"""``servegate deploy k8s``: manifests that the pinned Kubernetes API accepts, and that do
what the endpoint config says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import Result

from servegate.deploy.naming import DNS_LABEL, LABEL_VALUE, served_model_name
from tests.deploy.conftest import by_kind, manifests_in, run_cli, validate_strictly

ENDPOINTS = Path(__file__).with_name("endpoints.yaml")
LONG = "Fraud_Detection_With_A_Rather_Long_Endpoint_Name_For_Kubernetes"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    output = tmp_path_factory.mktemp("k8s")
    result = deploy_k8s(output)
    assert result.exit_code == 0, result.output
    return manifests_in(output)


@pytest.fixture(scope="module")
def objects(written: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [manifest for manifests in written.values() for manifest in manifests]


def deploy_k8s(output: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """``servegate deploy k8s ARGS -f endpoints.yaml -o OUTPUT``."""
    return run_cli("deploy", "k8s", *args, "-f", str(ENDPOINTS), "-o", str(output), env=env)


def said(result: Result) -> str:
    """What the command printed, on one line (Rich wraps long lines)."""
    return " ".join(result.output.split())


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [m for m in by_kind(objects, kind) if m["metadata"]["name"] == name]
    return found


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_every_object_validates_strictly(objects: list[dict[str, Any]]) -> None:
    kinds = {manifest["kind"] for manifest in objects}
    assert kinds == {
        "ConfigMap",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    for manifest in objects:
        validate_strictly(manifest)


def test_strict_validation_catches_a_wrong_field(objects: list[dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(by_kind(objects, "Deployment")[0]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(Exception, match="readinesProbe"):
        validate_strictly(broken)


def test_names_are_dns_labels_unique_and_labels_valid(objects: list[dict[str, Any]]) -> None:
    services = by_kind(objects, "Service")
    names = [service["metadata"]["name"] for service in services]
    assert len(set(names)) == len(names) == 5  # four served models and the gateway
    for manifest in objects:
        assert DNS_LABEL.match(manifest["metadata"]["name"]), manifest["metadata"]["name"]
        assert len(manifest["metadata"]["name"]) <= 63
        for value in manifest["metadata"]["labels"].values():
            assert LABEL_VALUE.match(value) and len(value) <= 63, value
    # the exact names stay in annotations when labels cannot hold them
    long = served_model_name(LONG, "fraud-champion")
    annotations = named(objects, "Deployment", long)["metadata"]["annotations"]
    assert annotations["servegate.io/endpoint"] == LONG
    # names that read the same once lowered still differ
    assert served_model_name("a-b", "c") != served_model_name("a", "b-c")
    assert served_model_name("Churn", "v1") != served_model_name("churn", "v1")


def test_replicas_and_resources_follow_workload_size_and_type(
    objects: list[dict[str, Any]],
) -> None:
    medium = served_model_name("churn", "v1")  # Medium: 8–16 requests, 4 per replica
    assert "replicas" not in named(objects, "Deployment", medium)["spec"]  # the HPA's
    hpa = named(objects, "HorizontalPodAutoscaler", medium)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": medium}
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert named(objects, "PodDisruptionBudget", medium)["spec"]["minAvailable"] == 1
    cpu = container_of(named(objects, "Deployment", medium))["resources"]
    assert cpu == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}

    small = served_model_name("churn", "v2")  # Small, scale to zero: one pod, no HPA or PDB
    assert named(objects, "Deployment", small)["spec"]["replicas"] == 1
    assert not [
        m
        for m in objects
        if m["metadata"]["name"] == small
        and m["kind"] in ("HorizontalPodAutoscaler", "PodDisruptionBudget")
    ]

    large = served_model_name(LONG, "fraud-champion")  # Large on a GPU: 16–64 → 4–16
    hpa = named(objects, "HorizontalPodAutoscaler", large)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (4, 16)
    gpu = container_of(named(objects, "Deployment", large))["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == gpu["requests"]["nvidia.com/gpu"] == "1"

    provisioned = served_model_name("tiny", "tiny-3")  # 8–12 requests → 2–3 replicas
    hpa = named(objects, "HorizontalPodAutoscaler", provisioned)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 3)
    large_cpu = container_of(named(objects, "Deployment", provisioned))["resources"]
    assert large_cpu["requests"] == {"cpu": "4", "memory": "8Gi"}


def test_replica_command_probes_and_security(objects: list[dict[str, Any]]) -> None:
    deployment = named(objects, "Deployment", served_model_name("churn", "v2"))
    pod = deployment["spec"]["template"]["spec"]
    container = container_of(deployment)
    assert container["command"][:8] == [
        "servegate",
        "replica",
        "models:/churn/2",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--concurrency",
    ]
    assert container["command"][-2:] == ["--max-batch-rows", "32"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ping", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/ping"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert pod["automountServiceAccountToken"] is False
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["MLFLOW_TRACKING_URI"]["valueFrom"]["configMapKeyRef"]["name"] == (
        "servegate-replicas"
    )


def test_secrets_are_references_never_values(
    objects: list[dict[str, Any]], written: dict[str, list[dict[str, Any]]]
) -> None:
    container = container_of(named(objects, "Deployment", served_model_name("churn", "v2")))
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["SCORING_API_KEY"] == {
        "name": "SCORING_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "servegate-ml-prod", "key": "api_key"}},
    }
    assert env["SCORING_MODE"] == {"name": "SCORING_MODE", "value": "fast"}
    assert not by_kind(objects, "Secret")
    gateway = container_of(named(objects, "Deployment", "servegate-gateway"))
    refs = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in gateway["env"] if "valueFrom" in v}
    assert refs["SERVEGATE_ADMIN_TOKEN"] == {"name": "servegate-admin", "key": "token"}
    assert refs["SERVEGATE_STORE_URL"]["name"] == "servegate-store"
    assert "{{secrets/" not in yaml.safe_dump(objects)


def test_traffic_split_is_kept(objects: list[dict[str, Any]]) -> None:
    config = named(objects, "ConfigMap", "servegate-gateway")["data"]
    routes_json = named(objects, "ConfigMap", "servegate-routes")["data"]["routes.json"]
    routes = json.loads(routes_json)["endpoints"]["churn"]["routes"]
    assert routes == [
        {
            "served_model_name": "v1",
            "traffic_percentage": 70,
            "url": f"http://{served_model_name('churn', 'v1')}:8080",
            "model_uri": "models:/churn/1",
        },
        {
            "served_model_name": "v2",
            "traffic_percentage": 30,
            "url": f"http://{served_model_name('churn', 'v2')}:8080",
            "model_uri": "models:/churn/2",
        },
    ]
    gateway = container_of(named(objects, "Deployment", "servegate-gateway"))
    assert config["SERVEGATE_BACKEND"] == "kubernetes"
    assert config["SERVEGATE_ROUTES_FILE"] == "/etc/servegate/routes/routes.json"
    assert {"name": "routes", "mountPath": "/etc/servegate/routes", "readOnly": True} in gateway[
        "volumeMounts"
    ]
    for served, share in (("v1", "70"), ("v2", "30")):
        service = named(objects, "Service", served_model_name("churn", served))
        assert service["metadata"]["annotations"]["servegate.io/traffic-percentage"] == share
    replicas = named(objects, "ConfigMap", "servegate-replicas")["data"]
    assert replicas["MLFLOW_TRACKING_URI"] == "http://servegate-gateway:8080"


def test_gateway_objects(objects: list[dict[str, Any]]) -> None:
    deployment = named(objects, "Deployment", "servegate-gateway")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = container_of(deployment)
    assert container["command"] == ["servegate", "serve"]
    assert container["envFrom"] == [{"configMapRef": {"name": "servegate-gateway"}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    settings = named(objects, "ConfigMap", "servegate-gateway")["data"]
    assert settings["SERVEGATE_HOST"] == "0.0.0.0"
    assert named(objects, "Service", "servegate-gateway")["spec"]["ports"][0]["port"] == 8080


def test_namespace_and_baked_model_images(tmp_path: Path) -> None:
    result = deploy_k8s(
        tmp_path, "churn", "--namespace", "ml", "--model-images", "registry.example.com/ml"
    )
    assert result.exit_code == 0, result.output
    objects = [m for ms in manifests_in(tmp_path).values() for m in ms]
    assert {manifest["metadata"]["namespace"] for manifest in objects} == {"ml"}
    container = container_of(named(objects, "Deployment", served_model_name("churn", "v1")))
    assert container["image"] == "registry.example.com/ml/servegate-model-churn:1"
    assert container["command"][2] == "/model"
    assert "MLFLOW_TRACKING_URI" not in {variable["name"] for variable in container["env"]}
    for manifest in objects:
        validate_strictly(manifest)


# Written from KServe's InferenceService CRD (serving.kserve.io/v1beta1): the fields we set,
# their types, and that predictor, name and the custom container are there.
INFERENCE_SERVICE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["predictor"],
            "additionalProperties": False,
            "properties": {
                "predictor": {
                    "type": "object",
                    "required": ["containers"],
                    "properties": {
                        "minReplicas": {"type": "integer", "minimum": 0},
                        "maxReplicas": {"type": "integer", "minimum": 0},
                        "scaleMetric": {"enum": ["cpu", "memory", "concurrency", "rps"]},
                        "scaleTarget": {"type": "integer"},
                        "containers": {"type": "array", "minItems": 1},
                    },
                },
                "transformer": {"type": "object"},
                "explainer": {"type": "object"},
            },
        },
    },
}
_EXTENSION_FIELDS = ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget")


def test_kserve_form(tmp_path: Path) -> None:
    result = deploy_k8s(tmp_path, "--kserve", "--no-gateway")
    assert result.exit_code == 0, result.output
    services = [m for ms in manifests_in(tmp_path).values() for m in ms]
    assert {m["kind"] for m in services} == {"InferenceService"} and len(services) == 4
    for service in services:
        jsonschema.validate(service, INFERENCE_SERVICE)
        # the predictor is a PodSpec plus KServe's extension fields: the PodSpec part must
        # pass the official schema strictly
        predictor = {
            k: v for k, v in service["spec"]["predictor"].items() if k not in _EXTENSION_FIELDS
        }
        validate_strictly(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": predictor}
        )
        (container,) = predictor["containers"]
        assert container["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
    scaled_to_zero = next(
        s for s in services if s["metadata"]["name"] == served_model_name("churn", "v2")
    )["spec"]["predictor"]
    assert scaled_to_zero["minReplicas"] == 0
    assert (scaled_to_zero["scaleMetric"], scaled_to_zero["scaleTarget"]) == ("concurrency", 4)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("endpoints: [", "neither JSON nor YAML"),
        ("42", "holds an endpoint"),
        ("- {name: a}", "config is required"),
        (
            "- {name: 'bad name', config: {served_entities: [{entity_name: m,"
            " entity_version: 1}]}}",
            "Endpoint name 'bad name' is invalid",
        ),
        (
            "- name: a\n  config: {served_entities: [{entity_name: m, entity_version: 1,"
            " workload_size: Huge}]}",
            "workload_size",
        ),
        (
            "- name: a\n  config:\n    served_entities: [{name: x, entity_name: m,"
            " entity_version: 1},"
            " {name: y, entity_name: m, entity_version: 2}]\n    traffic_config: {routes: ["
            "{served_model_name: x, traffic_percentage: 60}, {served_model_name: y,"
            " traffic_percentage: 30}]}",
            "add up to 90",
        ),
        ("- name: f\n  config: {served_entities: [{entity_name: spec_only}]}", "feature spec"),
    ],
)
def test_bad_endpoint_files_exit_2_with_the_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    bad = tmp_path / "endpoints.yaml"
    bad.write_text(content)
    result = run_cli("deploy", "k8s", "-f", str(bad), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert message in said(result)
    assert not (tmp_path / "out").exists()


def test_unknown_endpoint_and_missing_file(tmp_path: Path) -> None:
    result = deploy_k8s(tmp_path, "nope")
    assert result.exit_code == 2
    assert "No endpoint 'nope'" in result.output
    result = run_cli("deploy", "k8s", "-f", str(tmp_path / "missing.yaml"), "-o", str(tmp_path))
    assert result.exit_code == 2
    assert "Cannot read" in result.output


def test_model_images_need_numbered_versions(tmp_path: Path) -> None:
    result = deploy_k8s(tmp_path, LONG, "--model-images", "example.com/ml")
    assert result.exit_code == 2
    assert "needs numbered versions" in said(result)


def test_apply_without_a_cluster_says_so(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "no-such-kubeconfig"), "HOME": str(tmp_path)}
    result = deploy_k8s(tmp_path / "out", "tiny", "--apply", env=env)
    assert result.exit_code == 1
    assert "no Kubernetes cluster is configured" in said(result)
    assert (tmp_path / "out" / "endpoint-tiny.yaml").exists()  # written all the same


def test_apply_to_an_unreachable_cluster_says_so(tmp_path: Path) -> None:
    from tests.ports import free_port

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "here",
                "clusters": [
                    {"name": "here", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}
                ],
                "contexts": [{"name": "here", "context": {"cluster": "here", "user": "me"}}],
                "users": [{"name": "me", "user": {"token": "not-a-real-token"}}],
            }
        )
    )
    result = deploy_k8s(tmp_path / "out", "tiny", "--apply", env={"KUBECONFIG": str(kubeconfig)})
    assert result.exit_code == 1
    assert re.search(r"Kubernetes API at http://127\.0\.0\.1:\d+ is unreachable", said(result))


def test_the_kserve_form_routes_to_the_predictors(tmp_path: Path) -> None:
    result = deploy_k8s(tmp_path, "--kserve")
    assert result.exit_code == 0, result.output
    objects = [m for manifests in manifests_in(tmp_path).values() for m in manifests]
    routes_json = named(objects, "ConfigMap", "servegate-routes")["data"]["routes.json"]
    urls = [r["url"] for r in json.loads(routes_json)["endpoints"]["churn"]["routes"]]
    assert urls == [f"http://{served_model_name('churn', v)}-predictor" for v in ("v1", "v2")]
