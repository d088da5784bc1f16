"""A typed Python client for servegate's REST API (the CLI is built on it).

with ServegateClient("http://127.0.0.1:8080", token) as client:
    client.create_endpoint({"name": "churn", "config": {"served_entities": [...]}})
    answer, served = client.query("churn", b'{"dataframe_records": [...]}')
    client.enable_model("churn")

Every error answer raises ``ServegateClientError`` with its status, ``error_code`` and message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from servegate.inference_tables import COLUMNS as INFERENCE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

LEGACY = "/api/2.0/mlflow/endpoints"
ENDPOINTS = "/api/2.0/serving-endpoints"
SECRETS = "/api/2.0/secrets"
FEATURE_TABLES = "/api/2.0/feature-tables"
_ROW_CONTENT_TYPES = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet"}
SCIM = "/api/2.0/preview/scim/v2"


class ServegateClientError(Exception):
    """An error answer from servegate: its HTTP status, ``error_code`` and message."""

    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status_code = status_code
        self.error_code = error_code
        self.message = message


def _body_of(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON body; an error answer raises ``ServegateClientError``."""
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {"message": response.text}
    if response.is_error:
        raise ServegateClientError(
            response.status_code,
            body.get("error_code", "ERROR"),
            body.get("message", response.reason_phrase),
        )
    return body


class ServegateClient:
    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        self._http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _body_of(self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise self._unreachable(error) from error

    def _unreachable(self, error: httpx.TransportError) -> ServegateClientError:
        return ServegateClientError(0, "UNREACHABLE", f"{self._http.base_url}: {error}")

    def _stream(self, path: str, params: dict[str, str]) -> Iterator[str]:
        """A streamed text answer, chunk by chunk as it arrives (no read timeout)."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            with self._http.stream("GET", path, params=params, timeout=timeout) as response:
                if response.is_error:
                    response.read()
                    _body_of(response)
                yield from response.iter_text()
        except httpx.TransportError as error:
            raise self._unreachable(error) from error

    # -- per-model serving --------------------------------------------------------------

    def enable_model(self, name: str) -> None:
        self.request("POST", f"{LEGACY}/enable", json={"registered_model_name": name})

    def disable_model(self, name: str) -> None:
        self.request("POST", f"{LEGACY}/disable", json={"registered_model_name": name})

    def model_status(self, name: str) -> dict[str, Any]:
        params = {"registered_model_name": name}
        return self.request("GET", f"{LEGACY}/get-status", params=params)["endpoint_status"]

    def model_versions(self, name: str) -> list[dict[str, Any]]:
        params = {"registered_model_name": name}
        return self.request("GET", f"{LEGACY}/list-versions", params=params)["endpoint_versions"]

    def model_aliases(self, name: str) -> list[dict[str, Any]]:
        params = {"registered_model_name": name}
        return self.request("GET", f"{LEGACY}/list-version-aliases", params=params)["aliases"]

    # -- principals, tokens, permissions ------------------------------------------------------

    def create_principal(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """``collection``: Users, Groups or ServicePrincipals."""
        return self.request("POST", f"{SCIM}/{collection}", json=body)

    def list_principals(self, collection: str, filter: str | None = None) -> list[dict[str, Any]]:
        params = {"filter": filter} if filter else None
        return self.request("GET", f"{SCIM}/{collection}", params=params)["Resources"]

    def find_principal(self, collection: str, attribute: str, value: str) -> dict[str, Any]:
        found = self.list_principals(collection, f'{attribute} eq "{value}"')
        if not found:
            raise ServegateClientError(
                404, "RESOURCE_DOES_NOT_EXIST", f"No {collection[:-1].lower()} '{value}'."
            )
        return found[0]

    def patch_principal(
        self, collection: str, principal_id: str, operations: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return self.request(
            "PATCH", f"{SCIM}/{collection}/{principal_id}", json={"Operations": operations}
        )

    def create_token(
        self,
        *,
        user_name: str | None = None,
        application_id: str | None = None,
        lifetime_seconds: int | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"comment": comment, "lifetime_seconds": lifetime_seconds}
        if user_name or application_id:
            body.update(user_name=user_name, application_id=application_id)
            path = "/api/2.0/token-management/on-behalf-of/tokens"
        else:
            path = "/api/2.0/token/create"
        return self.request("POST", path, json={k: v for k, v in body.items() if v is not None})

    def list_tokens(self, *, every_owner: bool = False) -> list[dict[str, Any]]:
        path = "/api/2.0/token-management/tokens" if every_owner else "/api/2.0/token/list"
        return self.request("GET", path)["token_infos"]

    def revoke_token(self, token_id: str, *, any_owner: bool = False) -> None:
        if any_owner:
            self.request("DELETE", f"/api/2.0/token-management/tokens/{token_id}")
        else:
            self.request("POST", "/api/2.0/token/delete", json={"token_id": token_id})

    def endpoint(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"{ENDPOINTS}/{name}")

    def endpoints(self) -> list[dict[str, Any]]:
        return self.request("GET", ENDPOINTS).get("endpoints", [])

    def create_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body``: ``{"name", "config", "tags"?, "ai_gateway"?, ...}`` as the API takes it."""
        return self.request("POST", ENDPOINTS, json=body)

    def update_endpoint_config(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", f"{ENDPOINTS}/{name}/config", json=config)

    def delete_endpoint(self, name: str) -> None:
        self.request("DELETE", f"{ENDPOINTS}/{name}")

    def query(
        self,
        name: str,
        body: bytes,
        content_type: str = "application/json",
        served_model: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        """An endpoint's answer (or one served model's) and the served model that gave it."""
        path = f"/serving-endpoints/{name}/invocations"
        if served_model is not None:
            path = f"/serving-endpoints/{name}/served-models/{served_model}/invocations"
        response = self._send("POST", path, content=body, headers={"content-type": content_type})
        return _body_of(response), response.headers.get("served-model-name", "")

    def patch_tags(
        self, name: str, add: dict[str, str | None] | None = None, delete: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Add or change tags, remove others; the endpoint's tags after."""
        body = {
            "add_tags": [{"key": key, "value": value} for key, value in (add or {}).items()],
            "delete_tags": delete or [],
        }
        return self.request("PATCH", f"{ENDPOINTS}/{name}/tags", json=body)["tags"]

    def set_ai_gateway(self, name: str, settings: dict[str, Any]) -> dict[str, Any]:
        """Rate limits and the other AI gateway settings (``{"rate_limits": [...]}``)."""
        return self.request("PUT", f"{ENDPOINTS}/{name}/ai-gateway", json=settings)

    def endpoint_metrics(self, name: str) -> str:
        """The endpoint's Prometheus samples (OpenMetrics text)."""
        response = self._send("GET", f"{ENDPOINTS}/{name}/metrics")
        if response.is_error:
            _body_of(response)  # raises
        return response.text

    def endpoint_openapi(self, name: str) -> dict[str, Any]:
        """How to query the endpoint: an OpenAPI document from its models' signatures."""
        return self.request("GET", f"{ENDPOINTS}/{name}/openapi")

    def endpoint_events(self, name: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The endpoint's history: config updates, replica exits, scaling (oldest first)."""
        path = f"{ENDPOINTS}/{name}/events"
        return self.request("GET", path, params={"limit": limit})["events"]

    def served_model_logs(self, endpoint: str, served: str, *, build: bool = False) -> str:
        """The newest lines of a served model's log (``build``: its build log)."""
        return self.request("GET", _log_path(endpoint, served, build))["logs"]

    def follow_served_model_logs(
        self, endpoint: str, served: str, *, build: bool = False
    ) -> Iterator[str]:
        """The newest lines, then each line as it is written, until the caller stops."""
        return self._stream(_log_path(endpoint, served, build), {"follow": "true"})

    def inference_records(
        self,
        name: str,
        limit: int = 100,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        served_model: str | None = None,
        order: str = "newest",
    ) -> list[dict[str, Any]]:
        """Requests in the endpoint's inference table (``order``: newest or oldest first)."""
        params = {
            "limit": limit,
            "since_ms": since_ms,
            "until_ms": until_ms,
            "served_model": served_model,
            "order": order,
        }
        path = f"/api/2.0/serving-endpoints/{name}/inference-records"
        found = {key: value for key, value in params.items() if value is not None}
        return self.request("GET", path, params=found)["records"]

    def inference_table(self, name: str, limit: int = 10_000, **query: Any) -> pd.DataFrame:
        """``inference_records`` as a pandas DataFrame, with ``timestamp`` as a datetime."""
        import pandas as pd

        frame = pd.DataFrame(
            self.inference_records(name, limit, **query), columns=list(INFERENCE_COLUMNS)
        )
        frame.insert(0, "timestamp", pd.to_datetime(frame["timestamp_ms"], unit="ms", utc=True))
        return frame

    def permissions(self, endpoint_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/2.0/permissions/serving-endpoints/{endpoint_id}")

    def grant(self, endpoint_id: str, entries: list[dict[str, str]]) -> dict[str, Any]:
        return self.request(
            "PATCH",
            f"/api/2.0/permissions/serving-endpoints/{endpoint_id}",
            json={"access_control_list": entries},
        )

    def audit_events(self, since_ms: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        params = {"since_ms": since_ms, "limit": limit}
        return self.request("GET", "/api/2.0/audit/events", params=params)["events"]

    # -- feature tables -------------------------------------------------------------------

    def create_feature_table(
        self,
        name: str,
        primary_keys: list[str],
        schema: dict[str, str],
        *,
        timestamp_key: str | None = None,
        ttl_seconds: float | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Define a table: ``schema`` maps every column (keys included) to its type."""
        body: dict[str, Any] = {
            "name": name,
            "primary_keys": primary_keys,
            "schema": [{"name": column, "type": kind} for column, kind in schema.items()],
        }
        extras = {"timestamp_key": timestamp_key, "ttl_seconds": ttl_seconds}
        body.update({k: v for k, v in {**extras, "description": description}.items() if v})
        return self.request("POST", FEATURE_TABLES, json=body)

    def feature_tables(self) -> list[dict[str, Any]]:
        return self.request("GET", FEATURE_TABLES)["feature_tables"]

    def feature_table(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"{FEATURE_TABLES}/{name}")

    def delete_feature_table(self, name: str) -> None:
        self.request("DELETE", f"{FEATURE_TABLES}/{name}")

    def upsert_features(self, name: str, rows: Any) -> dict[str, Any]:
        """Upsert rows: a pandas DataFrame, a list of records, or a .csv/.parquet path."""
        path = f"{FEATURE_TABLES}/{name}/rows"
        if isinstance(rows, (str, Path)):
            file = Path(rows)
            kind = _ROW_CONTENT_TYPES.get(file.suffix.lower())
            if kind is None:
                raise ValueError(f"{file}: upsert .csv or .parquet files")
            return self.request(
                "POST", path, content=file.read_bytes(), headers={"Content-Type": kind}
            )
        if hasattr(rows, "to_json"):  # a DataFrame
            body = rows.to_json(orient="split", index=False, date_format="iso")
            return self.request(
                "POST",
                path,
                content=b'{"dataframe_split": ' + body.encode() + b"}",
                headers={"Content-Type": "application/json"},
            )
        return self.request("POST", path, json={"dataframe_records": list(rows)})

    def read_features(self, name: str, keys: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """Each key's features, or None where the table has no (unexpired) value."""
        return self.request("POST", f"{FEATURE_TABLES}/{name}/lookup", json={"keys": keys})["rows"]

    def feature_history(self, name: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every row ever upserted for ``keys``, oldest first (what training sets join on)."""
        path = f"{FEATURE_TABLES}/{name}/history"
        return self.request("POST", path, json={"keys": keys})["rows"]

    def create_feature_spec(self, name: str, spec: Any) -> dict[str, Any]:
        """Store a ``servegate.features.FeatureSpec`` under ``name``; an endpoint whose served
        entity is ``{"entity_name": name}`` serves it (a feature serving endpoint)."""
        body = {"name": name, "spec": spec.to_dict()}
        return self.request("POST", "/api/2.0/feature-specs", json=body)

    def feature_specs(self) -> list[dict[str, Any]]:
        return self.request("GET", "/api/2.0/feature-specs")["feature_specs"]

    def delete_feature_spec(self, name: str) -> None:
        self.request("DELETE", f"/api/2.0/feature-specs/{name}")

    # -- secrets (admins) -------------------------------------------------------------------

    def create_secret_scope(self, scope: str) -> None:
        self.request("POST", f"{SECRETS}/scopes/create", json={"scope": scope})

    def secret_scopes(self) -> list[str]:
        return [s["name"] for s in self.request("GET", f"{SECRETS}/scopes/list")["scopes"]]

    def put_secret(self, scope: str, key: str, value: str) -> None:
        """Store a secret; endpoints reference it as ``{{secrets/SCOPE/KEY}}``."""
        body = {"scope": scope, "key": key, "string_value": value}
        self.request("POST", f"{SECRETS}/put", json=body)

    def secret_keys(self, scope: str) -> list[str]:
        found = self.request("GET", f"{SECRETS}/list", params={"scope": scope})["secrets"]
        return [secret["key"] for secret in found]

    def delete_secret(self, scope: str, key: str) -> None:
        self.request("POST", f"{SECRETS}/delete", json={"scope": scope, "key": key})

    def delete_secret_scope(self, scope: str) -> None:
        self.request("POST", f"{SECRETS}/scopes/delete", json={"scope": scope})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServegateClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _log_path(endpoint: str, served: str, build: bool) -> str:
    kind = "build-logs" if build else "logs"
    return f"{ENDPOINTS}/{endpoint}/served-models/{served}/{kind}"
