"""What a replica inherits from the gateway's environment."""

from __future__ import annotations

import pytest

from servegate.backends.local import inherited_environment


def test_replicas_do_not_inherit_the_gateways_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVEGATE_ADMIN_TOKEN", "admin-secret")
    monkeypatch.setenv("SERVEGATE_WORKER_SETTINGS", '{"process_token": "x"}')
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    env = inherited_environment()
    assert not any(name.startswith("SERVEGATE_") for name in env)
    assert env["OMP_NUM_THREADS"] == "1", "the rest of the environment still reaches models"
