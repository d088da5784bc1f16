"""Which backend runs the replicas, built from the settings: local processes (the default),
Ray Serve (``--backend ray``, with Ray installed: ``pip install 'servegate[ray]'``), or the
pods of ``servegate deploy k8s`` (``--backend kubernetes --routes-file routes.json``)."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from servegate.backends.base import Backend
from servegate.backends.kubernetes_services import RoutesFile, ServiceBackend
from servegate.backends.local import LocalBackend, inherited_environment
from servegate.backends.zygote import Zygote
from servegate.features.tables import table_json
from servegate.observability.logs import LogPaths, LogRotator
from servegate.reconciler.autoscaling import ScalingTimings
from servegate.settings import BackendKind, Settings
from servegate.store.feature_specs import FeatureSpecStore
from servegate.store.feature_tables import FeatureTableStore


def scaling_timings(settings: Settings) -> ScalingTimings:
    return ScalingTimings(
        settings.scale_up_delay_s, settings.scale_down_delay_s, settings.scale_to_zero_idle_s
    )


def make_backend(
    settings: Settings,
    replica_env: dict[str, str],
    log_paths: LogPaths,
    resolve_environment: Callable[[dict[str, str]], dict[str, str]],
    feature_tables: FeatureTableStore,
    feature_specs: FeatureSpecStore,
) -> Backend:
    def tables() -> bytes:
        return orjson.dumps([table_json(table) for table in feature_tables.list()])

    def spec(name: str) -> bytes:
        return orjson.dumps(feature_specs.get(name)["spec"])

    if settings.backend is BackendKind.RAY:
        return _ray_backend(settings, replica_env, log_paths, resolve_environment, tables, spec)
    if settings.backend is BackendKind.KUBERNETES:
        if settings.routes_file is None:
            raise ValueError("--backend kubernetes needs --routes-file (SERVEGATE_ROUTES_FILE)")
        routes = RoutesFile(settings.routes_file)
        return ServiceBackend(routes, log_paths, settings.replica_start_timeout_s)
    return LocalBackend(
        settings.run_dir,
        settings.model_cache_dir,
        log_paths,
        replica_env,
        settings.replica_start_timeout_s,
        [
            f"--max-request-bytes={settings.max_request_bytes}",
            f"--max-rows={settings.max_rows_per_request}",
            f"--online-store-prefix={settings.online_store_prefix}",
            f"--log-format={settings.log_format.value}",
            "--access-log" if settings.access_log else "--no-access-log",
        ],
        resolve_environment,
        Zygote(inherited_environment(), settings.logs_dir / "zygote.log")
        if settings.warm_replicas
        else None,
        tables,
        spec,
        LogRotator(settings.logs_dir, settings.log_max_bytes, settings.log_backups),
        settings.env_manager,
        settings.envs_dir,
    )


def _ray_backend(
    settings: Settings,
    replica_env: dict[str, str],
    log_paths: LogPaths,
    resolve_environment: Callable[[dict[str, str]], dict[str, str]],
    feature_tables: Callable[[], bytes],
    feature_spec: Callable[[str], bytes],
) -> Backend:
    from servegate.backends.ray_serve import RayBackend, RayCluster
    from servegate.replica.served import FeatureSource, ReplicaOptions

    options = ReplicaOptions(
        max_request_bytes=settings.max_request_bytes,
        max_rows=settings.max_rows_per_request,
        concurrency=settings.replica_slots,
        features=FeatureSource(settings.online_store_url, settings.online_store_prefix),
        access_log=settings.access_log,
    )
    cluster = RayCluster(
        settings.ray_address,
        settings.ray_http_host,
        settings.ray_http_port,
        settings.ray_replica_cpus,
    )
    return RayBackend(
        cluster,
        replica_env,
        options,
        settings.model_cache_dir,
        log_paths,
        settings.replica_start_timeout_s,
        resolve_environment,
        scaling_timings(settings),
        feature_tables,
        feature_spec,
    )
