"""A real ``servegate serve`` process on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.ports import free_port


@dataclass
class GatewayProcess:
    home: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (
            self.env.get("SERVEGATE_ADMIN_TOKEN") or (self.home / "admin-token").read_text().strip()
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def log_path(self) -> Path:
        return self.home / "gateway-test.log"

    def start(self, timeout: float = 120) -> GatewayProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = {**os.environ, **self.env}
        env.pop("SERVEGATE_HOME", None)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "servegate",
                "serve",
                "--port",
                str(self.port),
                "--home",
                str(self.home),
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # not listening, or busy
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gateway did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def api(self, method: str, path: str, **kwargs) -> requests.Response:  # type: ignore[no-untyped-def]
        kwargs.setdefault("headers", self.headers)
        kwargs.setdefault("timeout", 60)
        return requests.request(method, f"{self.url}{path}", **kwargs)

    def create_user(self, name: str, entitlements: tuple[str, ...] = ()) -> str:
        """A new user (SCIM); returns its id."""
        created = self.api(
            "POST",
            "/api/2.0/preview/scim/v2/Users",
            json={"userName": name, "entitlements": [{"value": e} for e in entitlements]},
        )
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def token_for(self, user: str, lifetime: int | None = None) -> tuple[str, str]:
        """A new token for an existing user: (its value, its id)."""
        body: dict = {"user_name": user, "comment": f"for {user}"}
        if lifetime:
            body["lifetime_seconds"] = lifetime
        made = self.api("POST", "/api/2.0/token-management/on-behalf-of/tokens", json=body)
        assert made.status_code == 200, made.text
        return made.json()["token_value"], made.json()["token_info"]["token_id"]

    def create(self, name: str, entities: list[dict], routes: list[dict] | None = None) -> dict:
        """Create an endpoint and wait until it is READY."""
        config: dict = {"served_entities": entities}
        if routes:
            config["traffic_config"] = {"routes": routes}
        created = self.api(
            "POST", "/api/2.0/serving-endpoints", json={"name": name, "config": config}
        )
        assert created.status_code == 200, created.text
        return self.wait_for(name)

    def wait_for(self, name: str, *, ready: bool = True, timeout: float = 180) -> dict:
        """Poll the endpoint until its update is over (and, if asked, it is READY)."""
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            body = self.api("GET", f"/api/2.0/serving-endpoints/{name}").json()
            state = body["state"]
            if state["config_update"] != "IN_PROGRESS" and (not ready or state["ready"] == "READY"):
                return body
            if ready and state["config_update"] == "UPDATE_FAILED":
                raise AssertionError(f"endpoint {name}'s update failed: {body}")
            time.sleep(0.2)
        raise AssertionError(f"endpoint {name} did not settle: {body}")
