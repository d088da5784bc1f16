"""What the gateway's routes share: the store, the registry, this process's role and routing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from servegate.auth.access import AccessControl, Caller
from servegate.auth.tokens import TokenStore
from servegate.features.online import OnlineStore
from servegate.gateway.rate_limits import RateLimiter
from servegate.observability.audit import AuditLog
from servegate.observability.inference_capture import InferenceCapture
from servegate.observability.logs import LogPaths
from servegate.registry.versions import RegistryClient
from servegate.settings import Settings
from servegate.store.database import Database
from servegate.store.endpoint_events import EndpointEventStore
from servegate.store.endpoints import EndpointStore
from servegate.store.feature_history import FeatureHistoryStore
from servegate.store.feature_specs import FeatureSpecStore
from servegate.store.feature_tables import FeatureTableStore
from servegate.store.model_serving import ModelServingStore
from servegate.store.principals import PrincipalStore
from servegate.store.secrets import SecretStore

if TYPE_CHECKING:
    from servegate.gateway.role import GatewayRole
    from servegate.gateway.routing import RoutingTable


@dataclass
class GatewayContext:
    settings: Settings
    database: Database
    endpoints: EndpointStore
    endpoint_events: EndpointEventStore
    model_serving: ModelServingStore
    registry: RegistryClient
    routing: RoutingTable
    role: GatewayRole
    log_paths: LogPaths
    access: AccessControl
    principals: PrincipalStore
    tokens: TokenStore
    rate_limiter: RateLimiter
    audit: AuditLog
    secrets: SecretStore
    feature_tables: FeatureTableStore
    feature_history: FeatureHistoryStore
    feature_specs: FeatureSpecStore
    online_store: OnlineStore
    capture: InferenceCapture


def caller_of(connection: HTTPConnection) -> Caller:
    """The authenticated caller, set by the auth middleware."""
    return connection.scope["servegate.caller"]
