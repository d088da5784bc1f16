"""Input limits with clear errors, request time limits, and TLS."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.special_models import register_sleeper


def test_huge_headers_are_refused(gateway: GatewayProcess) -> None:
    headers = {**gateway.headers, "X-Padding": "a" * 100_000}
    for method, path in (
        ("GET", "/api/2.0/serving-endpoints"),
        ("POST", "/serving-endpoints/any/invocations"),  # the short way in, limited the same
        ("POST", "/serving-endpoints/any/served-models/m/invocations"),
    ):
        response = requests.request(method, gateway.url + path, headers=headers, timeout=30)
        assert response.status_code == 431, path
        body = response.json()
        assert body["error_code"] == "BAD_REQUEST" and "limit" in body["message"]
    assert requests.get(f"{gateway.url}/health", timeout=30).status_code == 200


def test_other_methods_on_invocations_are_refused_in_the_api_shape(gateway: GatewayProcess) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = gateway.api(method, "/serving-endpoints/any/invocations")
        assert response.status_code == 405, method
        assert response.json()["error_code"] == "BAD_REQUEST"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsGateway(GatewayProcess):
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def test_tls_and_request_time_limit(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    gateway = TlsGateway(
        tmp_path / "home",
        env={
            "SERVEGATE_REPLICA_REQUEST_TIMEOUT_S": "2",
            "REQUESTS_CA_BUNDLE": str(cert),
            "MLFLOW_TRACKING_SERVER_CERT_PATH": str(cert),
        },
        args=["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)],
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        patch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))
        gateway.start()
        try:
            with pytest.raises(requests.ConnectionError):
                requests.get(f"http://127.0.0.1:{gateway.port}/health", timeout=5)
            sleeper = register_into(gateway, lambda: register_sleeper("sleeper"))
            gateway.create("slow", [sleeper.entity("m")])
            url = "/serving-endpoints/slow/invocations"
            quick = gateway.api(
                "POST", url, json={"dataframe_records": [{"x": 1.0}], "params": {"seconds": 0.0}}
            )
            assert quick.status_code == 200 and quick.json() == {"predictions": [1.0]}
            slow = gateway.api(
                "POST", url, json={"dataframe_records": [{"x": 1.0}], "params": {"seconds": 4.0}}
            )
            assert slow.status_code == 504
            assert slow.json()["error_code"] == "DEADLINE_EXCEEDED"
            deep = b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}"
            nested = gateway.api(
                "POST",
                url,
                data=deep,
                headers={**gateway.headers, "Content-Type": "application/json"},
            )
            assert nested.status_code == 400 and "levels deep" in nested.json()["message"]
            again = gateway.api("POST", url, json={"dataframe_records": [{"x": 2.0}]})
            assert again.status_code == 200
        finally:
            gateway.stop()
