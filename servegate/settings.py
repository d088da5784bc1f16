"""servegate's configuration: one pydantic settings class, variables prefixed SERVEGATE_."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from servegate.environments import EnvManager
from servegate.observability.log_format import LogFormat

DEFAULT_PORT = 8080
MAX_REQUEST_BYTES = 16 * 1024 * 1024
MAX_ROWS_PER_REQUEST = 100_000


class BackendKind(str, Enum):
    """Where replicas run (``servegate.gateway.backend`` builds each)."""

    LOCAL = "local"
    RAY = "ray"
    KUBERNETES = "kubernetes"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVEGATE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".servegate")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    store_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the store; default SQLite under home."
    )
    registry_uri: str | None = Field(
        default=None,
        description="An external MLflow tracking/registry URI; default: the embedded registry.",
    )
    admin_token: str | None = None
    online_store: str | None = Field(
        default=None,
        description="Online feature store URL (redis://...); default SQLite under home.",
    )
    online_store_prefix: str = Field(default="servegate:", description="Start of Redis keys.")
    max_request_bytes: int = MAX_REQUEST_BYTES
    max_rows_per_request: int = MAX_ROWS_PER_REQUEST
    max_header_bytes: int = 64 * 1024
    request_head_timeout_s: float = Field(
        default=10.0, gt=0, description="A request's line and headers must arrive within this."
    )
    request_body_timeout_s: float = Field(
        default=60.0, gt=0, description="A request's body must arrive within this after its head."
    )
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    replica_start_timeout_s: float = 600.0
    replica_request_timeout_s: float = 300.0
    reconcile_interval_s: float = 0.5
    warm_replicas: bool = Field(
        default=True, description="Fork replicas from a zygote that has imported their libraries."
    )
    replica_slots: int = Field(
        default=4, ge=1, description="Requests one replica answers at once; scaling divides by it."
    )
    scale_up_delay_s: float = Field(default=2.0, ge=0)
    scale_down_delay_s: float = Field(default=60.0, ge=0)
    scale_to_zero_idle_s: float = Field(
        default=1800.0, gt=0, description="Idle time before scale_to_zero_enabled stops replicas."
    )
    wake_timeout_s: float = Field(
        default=60.0, gt=0, description="How long a request waits for a replica to start from zero."
    )
    env_manager: EnvManager = Field(
        default=EnvManager.LOCAL,
        description="Served entities without env_manager run in the server's Python (local) "
        "or a virtualenv of the model's requirements (virtualenv).",
    )
    workers: int = Field(default=1, ge=1, le=64)
    backend: BackendKind = Field(
        default=BackendKind.LOCAL,
        description="Where replicas run: local processes, Ray Serve, or Kubernetes pods.",
    )
    routes_file: Path | None = Field(
        default=None,
        description="The kubernetes backend's routes.json (from servegate deploy k8s).",
    )
    ray_address: str = Field(
        default="auto",
        description="The Ray cluster of the ray backend: auto, its GCS HOST:PORT, or ray://HOST:PORT.",
    )
    ray_http_host: str = Field(
        default="127.0.0.1",
        description="Where Ray Serve's HTTP proxy listens; the gateway calls it.",
    )
    ray_http_port: int = Field(default=8000, ge=1, le=65535)
    ray_replica_cpus: float = Field(
        default=1.0, gt=0, description="CPUs Ray reserves for each replica of a served model."
    )
    log_format: LogFormat = Field(
        default=LogFormat.TEXT, description="text or json lines, for the gateway and replicas."
    )
    access_log: bool = Field(
        default=False, description="One log line per request, in the gateway and replicas."
    )
    log_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=4096, description="A replica log rotates past this size."
    )
    log_backups: int = Field(default=5, ge=0, description="Rotated replica logs kept.")
    inference_tables: Literal["store", "parquet"] = Field(
        default="store",
        description="Where inference tables go: the store's database, or Parquet files.",
    )
    inference_dir: Path | None = Field(
        default=None, description="The Parquet inference tables' folder; default home/inference."
    )
    inference_queue_size: int = Field(
        default=10_000, ge=1, description="Records held for writing; more are dropped, counted."
    )
    inference_queue_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    inference_max_payload_bytes: int = Field(
        default=1024 * 1024, ge=0, description="A larger request or response body is kept as null."
    )
    inference_flush_s: float = Field(
        default=1.0, gt=0, description="Inference records are written at least this often."
    )
    process_token: str | None = Field(
        default=None,
        description="Internal: the token replicas use to reach the registry, shared by workers.",
    )

    @property
    def local_url(self) -> str:
        """The gateway's URL from this machine (replicas and the quickstart use it)."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.ssl_certfile else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def shares_store(self) -> bool:
        """Whether other gateway processes may use the same store (workers, or PostgreSQL)."""
        return self.workers > 1 or not self.resolved_store_url.startswith("sqlite")

    @property
    def online_store_url(self) -> str:
        return self.online_store or f"sqlite:///{self.home / 'online-features.db'}"

    @property
    def store_path(self) -> Path:
        return self.home / "servegate.db"

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.store_path}"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        """Unix sockets and pid files of running replicas."""
        return self.home / "run"

    @property
    def model_cache_dir(self) -> Path:
        return self.home / "models"

    @property
    def envs_dir(self) -> Path:
        """Virtualenvs of models served with env_manager virtualenv, by requirements digest."""
        return self.home / "envs"

    @property
    def secrets_key_path(self) -> Path:
        return self.home / "secrets.key"

    @property
    def admin_token_path(self) -> Path:
        return self.home / "admin-token"

    def stored_admin_token(self) -> str | None:
        """The admin token: the one given (``SERVEGATE_ADMIN_TOKEN``), else the one kept in the
        home, if the gateway has made it."""
        if self.admin_token:
            return self.admin_token
        try:
            return self.admin_token_path.read_text().strip() or None
        except FileNotFoundError:
            return None

    @property
    def inference_path(self) -> Path:
        return self.inference_dir or self.home / "inference"

    @property
    def embedded_registry(self) -> bool:
        return self.registry_uri is None

    def ensure_home(self) -> None:
        for directory in (
            self.home,
            self.mlflow_dir,
            self.logs_dir,
            self.run_dir,
            self.model_cache_dir,
        ):
            directory.mkdir(parents=True, exist_ok=True)
