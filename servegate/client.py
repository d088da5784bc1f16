"""A small typed Python client for servegate's REST API (used by the CLI).

client = ServegateClient("http://127.0.0.1:8080", token)
client.enable_model("churn")
client.model_status("churn")["state"]
"""

from __future__ import annotations

from typing import Any

import httpx

LEGACY = "/api/2.0/mlflow/endpoints"


class ServegateClientError(Exception):
    """An error answer from servegate: its HTTP status, ``error_code`` and message."""

    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status_code = status_code
        self.error_code = error_code
        self.message = message


class ServegateClient:
    def __init__(self, url: str, token: str, timeout: float = 60.0) -> None:
        self._http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise ServegateClientError(
                0, "UNREACHABLE", f"{self._http.base_url}: {error}"
            ) from error
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

    def close(self) -> None:
        self._http.close()
