"""MLflow deployments plugin: ``mlflow.deployments.get_deploy_client("servegate://HOST:PORT")``
and ``mlflow deployments ... -t servegate://HOST:PORT`` manage and query servegate endpoints.

A deployment is a served model. Created without ``endpoint``, it gets an endpoint of its own,
of the same name; created with one, it joins that endpoint's config (with
``traffic_percentage`` of its traffic, the others scaled down to make room). The token comes
from ``$SERVEGATE_TOKEN``, else the admin token of ``$SERVEGATE_HOME``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlparse

from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from servegate.client import ServegateClient, ServegateClientError
from servegate.settings import Settings

SCHEME = "servegate"
BASE = "/api/2.0/serving-endpoints"
_ENTITY_KEYS = {
    "workload_size": str,
    "workload_type": str,
    "scale_to_zero_enabled": bool,
    "min_provisioned_concurrency": int,
    "max_provisioned_concurrency": int,
    "max_batch_rows": int,
    "max_batch_wait_ms": float,
    "environment_vars": dict,
    "env_manager": str,
}
_CLIENT_KEYS = {"traffic_percentage": int, "wait": bool, "timeout": float}
_WAIT_POLL_S = 0.5


def target_help() -> str:
    return """\
servegate target: servegate://HOST:PORT (servegate alone: $SERVEGATE_URL, else 127.0.0.1:8080).
Token: $SERVEGATE_TOKEN, else the admin token kept in $SERVEGATE_HOME.

A deployment is a served model. Without --endpoint it gets an endpoint of the same name;
with --endpoint it joins that endpoint.
Model URIs: models:/NAME/VERSION, models:/NAME/Staging|Production, models:/NAME@ALIAS.
Deployment config (-C key=value): workload_size (Small|Medium|Large), workload_type,
scale_to_zero_enabled (true|false), min_provisioned_concurrency, max_provisioned_concurrency,
max_batch_rows, max_batch_wait_ms, environment_vars (a JSON object), env_manager
(local|virtualenv), traffic_percentage
(with --endpoint: this deployment's share, default 0), wait (default true: return once
ready), timeout (seconds to wait, default 600).
Endpoint config (create-endpoint -C): served_entities and traffic_config as JSON, or
model_uri=... (plus the deployment keys above) for one served model.
run-local: serves the model on 127.0.0.1 (config host, port; default 5000) in the foreground.
"""


def run_local(
    target: str,
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Serve ``model_uri`` in the foreground with ``servegate replica``, as
    ``mlflow models serve`` would."""
    config = config or {}
    command = [sys.executable, "-m", "servegate", "replica", model_uri]
    command += [
        "--host",
        str(config.get("host", "127.0.0.1")),
        "--port",
        str(config.get("port", 5000)),
    ]
    subprocess.run(command, check=True)


def _url_of(target_uri: str) -> str:
    if target_uri == SCHEME:
        return os.environ.get("SERVEGATE_URL") or Settings().local_url
    parsed = urlparse(target_uri)
    if parsed.scheme != SCHEME or not parsed.netloc:
        raise MlflowException(
            f"Target {target_uri!r}: use servegate://HOST:PORT.", INVALID_PARAMETER_VALUE
        )
    return f"http://{parsed.netloc}"


def _entity(model_uri: str) -> dict[str, str]:
    """``entity_name`` and ``entity_version`` (a number, stage or @alias) of a models:/ URI."""
    if not model_uri.startswith("models:/"):
        raise MlflowException(
            f"{model_uri!r}: servegate serves registered models; give models:/NAME/VERSION, "
            "models:/NAME/STAGE or models:/NAME@ALIAS (register runs:/ models first).",
            INVALID_PARAMETER_VALUE,
        )
    reference = model_uri.removeprefix("models:/").strip("/")
    if "/" in reference:
        name, version = reference.rsplit("/", 1)
    elif "@" in reference:
        name, alias = reference.rsplit("@", 1)
        version = f"@{alias}"
    else:
        raise MlflowException(
            f"{model_uri!r} names no version, stage or alias.", INVALID_PARAMETER_VALUE
        )
    return {"entity_name": name, "entity_version": version}


def _typed(key: str, value: Any, kind: type) -> Any:
    """A config value as its kind; the CLI's ``-C key=value`` gives strings."""
    if not isinstance(value, str) or kind is str:
        return value
    try:
        if kind is bool:
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return value.lower() == "true"
        if kind is dict:
            parsed = json.loads(value)
            if not isinstance(parsed, dict):
                raise ValueError(value)
            return parsed
        return kind(value)
    except ValueError as error:
        raise MlflowException(
            f"Config {key}={value!r} is not a {kind.__name__}.", INVALID_PARAMETER_VALUE
        ) from error


def _split_config(config: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(served entity fields, this client's own options) from a deployment config."""
    entity: dict[str, Any] = {}
    options: dict[str, Any] = {"traffic_percentage": 0, "wait": True, "timeout": 600.0}
    for key, value in (config or {}).items():
        if key in _ENTITY_KEYS:
            entity[key] = _typed(key, value, _ENTITY_KEYS[key])
        elif key in _CLIENT_KEYS:
            options[key] = _typed(key, value, _CLIENT_KEYS[key])
        else:
            known = ", ".join(sorted({*_ENTITY_KEYS, *_CLIENT_KEYS}))
            raise MlflowException(
                f"Unknown config key {key!r}; known: {known}.", INVALID_PARAMETER_VALUE
            )
    return entity, options


def _endpoint_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """An endpoint config from ``create_endpoint``'s config: the API's own shape (values may
    be JSON text, from the CLI), or ``model_uri`` plus deployment keys for one served model."""
    config = dict(config or {})
    if "model_uri" in config:
        entity, _ = _split_config(
            {key: value for key, value in config.items() if key in _ENTITY_KEYS}
        )
        return {"served_entities": [{**_entity(config.pop("model_uri")), **entity}]}
    return {
        key: json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
        for key, value in config.items()
    }


def _scaled(routes: list[dict[str, Any]], total: int) -> list[dict[str, Any]]:
    """``routes`` with their shares scaled to add up to ``total``, as integers."""
    if not routes:
        return []
    weights = [route["traffic_percentage"] or 1 for route in routes]
    shares = [weight * total // sum(weights) for weight in weights]
    shares[0] += total - sum(shares)
    return [
        {"served_model_name": route["served_model_name"], "traffic_percentage": share}
        for route, share in zip(routes, shares, strict=True)
    ]


def _without(routes: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [route for route in routes if route["served_model_name"] != name]


def _with_share(routes: list[dict[str, Any]], name: str, share: int) -> list[dict[str, Any]]:
    """``name`` at ``share`` percent, the others scaled down (or up) to the rest."""
    others = _without(routes, name)
    if not others:
        return [{"served_model_name": name, "traffic_percentage": 100}]
    return [*_scaled(others, 100 - share), {"served_model_name": name, "traffic_percentage": share}]


class ServegateDeploymentClient(BaseDeploymentClient):
    def __init__(self, target_uri: str) -> None:
        super().__init__(target_uri)
        token = os.environ.get("SERVEGATE_TOKEN") or Settings().stored_admin_token()
        if not token:
            raise MlflowException(
                "No servegate token: set SERVEGATE_TOKEN (or SERVEGATE_HOME to a gateway's home).",
                INVALID_PARAMETER_VALUE,
            )
        self.client = ServegateClient(_url_of(target_uri), token)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return self.client.request(method, path, **kwargs)
        except ServegateClientError as error:
            raise MlflowException(error.message, error_code=error.error_code) from error

    # -- endpoints ---------------------------------------------------------------------------

    def create_endpoint(self, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call("POST", BASE, json={"name": name, "config": _endpoint_config(config)})

    def update_endpoint(
        self, endpoint: str, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self._call("PUT", f"{BASE}/{endpoint}/config", json=_endpoint_config(config))

    def delete_endpoint(self, endpoint: str) -> None:
        self._call("DELETE", f"{BASE}/{endpoint}")

    def list_endpoints(self) -> list[dict[str, Any]]:
        return self._call("GET", BASE).get("endpoints", [])

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        return self._call("GET", f"{BASE}/{endpoint}")

    # -- deployments (served models) ---------------------------------------------------------

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        fields, options = _split_config(config)
        entity = {"name": name, **_entity(model_uri), **fields}
        if endpoint is None:
            self._call("POST", BASE, json={"name": name, "config": {"served_entities": [entity]}})
            return self._settled(name, name, options)
        current = self._config_of(endpoint)
        if any(e["name"] == name for e in current["served_entities"]):
            raise MlflowException(
                f"Deployment {name!r} already exists in endpoint {endpoint!r}.",
                error_code="RESOURCE_ALREADY_EXISTS",
            )
        routes = _with_share(current["routes"], name, options["traffic_percentage"])
        self._put(endpoint, [*current["served_entities"], entity], routes)
        return self._settled(endpoint, name, options)

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        fields, options = _split_config(config)
        endpoint = endpoint or name
        current = self._config_of(endpoint)
        entities = current["served_entities"]
        if not any(entity["name"] == name for entity in entities):
            raise self._missing(name, endpoint)
        changes = {**(_entity(model_uri) if model_uri else {}), **fields}
        entities = [
            {**entity, **changes} if entity["name"] == name else entity for entity in entities
        ]
        routes = current["routes"]
        if config and "traffic_percentage" in config:
            routes = _with_share(routes, name, options["traffic_percentage"])
        self._put(endpoint, entities, routes)
        return self._settled(endpoint, name, options)

    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        if endpoint is None:
            self.delete_endpoint(name)
            return
        _, options = _split_config(config)
        current = self._config_of(endpoint)
        entities = [e for e in current["served_entities"] if e["name"] != name]
        if len(entities) == len(current["served_entities"]):
            raise self._missing(name, endpoint)
        if not entities:
            raise MlflowException(
                f"{name!r} is the last deployment of endpoint {endpoint!r}; delete the endpoint.",
                INVALID_PARAMETER_VALUE,
            )
        self._put(endpoint, entities, _scaled(_without(current["routes"], name), 100))
        self._wait(endpoint, options)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        if endpoint is None:
            return [{"name": e["name"], **e} for e in self.list_endpoints()]
        return self._deployments(self.get_endpoint(endpoint))

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        described = self.get_endpoint(endpoint or name)
        for deployment in self._deployments(described):
            if deployment["name"] == name:
                return deployment
        raise self._missing(name, endpoint or name)

    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
    ) -> PredictionsResponse:
        if endpoint is not None and deployment_name is not None:
            path = f"/serving-endpoints/{endpoint}/served-models/{deployment_name}/invocations"
        elif (endpoint or deployment_name) is not None:
            path = f"/serving-endpoints/{endpoint or deployment_name}/invocations"
        else:
            raise MlflowException("Name a deployment or an endpoint.", INVALID_PARAMETER_VALUE)
        return PredictionsResponse(self._call("POST", path, json=_scoring_body(inputs)))

    # -- helpers ------------------------------------------------------------------------------

    def _config_of(self, endpoint: str) -> dict[str, Any]:
        """The served entities (as inputs) and routes of the endpoint's newest config."""
        described = self.get_endpoint(endpoint)
        config = described.get("pending_config") or described.get("config") or {}
        entities = [
            {key: value for key, value in entity.items() if key in _INPUT_FIELDS}
            for entity in config.get("served_entities", [])
        ]
        routes = (config.get("traffic_config") or {}).get("routes", [])
        return {"served_entities": entities, "routes": routes}

    def _put(
        self, endpoint: str, entities: list[dict[str, Any]], routes: list[dict[str, Any]]
    ) -> None:
        body: dict[str, Any] = {"served_entities": entities}
        if routes:
            body["traffic_config"] = {"routes": routes}
        self._call("PUT", f"{BASE}/{endpoint}/config", json=body)

    def _settled(self, endpoint: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
        self._wait(endpoint, options)
        return self.get_deployment(name, endpoint)

    def _wait(self, endpoint: str, options: dict[str, Any]) -> None:
        """Return once the endpoint's update is over, if asked to wait; an update that fails
        raises, with its served models' messages."""
        deadline = time.monotonic() + options["timeout"]
        while options["wait"]:
            described = self.get_endpoint(endpoint)
            update = described["state"]["config_update"]
            if update == "NOT_UPDATING":
                return
            if update == "UPDATE_FAILED":
                config = described.get("pending_config") or described.get("config") or {}
                reasons = [
                    f"{entity['name']}: {entity['state'].get('deployment_state_message', '')}"
                    for entity in config.get("served_entities", [])
                ]
                raise MlflowException(
                    f"Endpoint {endpoint!r} failed to update: {'; '.join(reasons)}"
                )
            if time.monotonic() > deadline:
                raise MlflowException(
                    f"Endpoint {endpoint!r} is still updating after {options['timeout']:g}s."
                )
            time.sleep(_WAIT_POLL_S)

    @staticmethod
    def _deployments(described: dict[str, Any]) -> list[dict[str, Any]]:
        config = described.get("config") or described.get("pending_config") or {}
        shares = {
            route["served_model_name"]: route["traffic_percentage"]
            for route in (config.get("traffic_config") or {}).get("routes", [])
        }
        return [
            {
                **entity,
                "endpoint": described["name"],
                "flavor": "python_function",  # every served model answers through pyfunc
                "model_uri": f"models:/{entity['entity_name']}/{entity['entity_version']}",
                "traffic_percentage": shares.get(entity["name"], 0),
            }
            for entity in config.get("served_entities", [])
        ]

    @staticmethod
    def _missing(name: str, endpoint: str) -> MlflowException:
        return MlflowException(
            f"Deployment {name!r} does not exist in endpoint {endpoint!r}.",
            error_code="RESOURCE_DOES_NOT_EXIST",
        )


_INPUT_FIELDS = {"name", "entity_name", "entity_version", *_ENTITY_KEYS}


def _scoring_body(inputs: Any) -> dict[str, Any]:
    """An MLflow scoring request: a DataFrame as ``dataframe_split``, a dict as it is (it is
    already a request), anything else as ``inputs``."""
    import pandas as pd

    if isinstance(inputs, pd.DataFrame):
        return {"dataframe_split": json.loads(inputs.to_json(orient="split", index=False))}
    if isinstance(inputs, dict):
        return inputs
    return {"inputs": inputs}
