"""The store's tables. Alembic migrations in ``migrations/versions`` create exactly these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class EndpointRow(Base):
    """A serving endpoint. ``active_version``/``pending_version`` point at its config rows."""

    __tablename__ = "endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    creator: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    config_update: Mapped[str] = mapped_column(String(32), nullable=False)
    active_version: Mapped[int | None] = mapped_column(Integer)
    pending_version: Mapped[int | None] = mapped_column(Integer)
    last_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ai_gateway: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    configs: Mapped[list[ConfigRow]] = relationship(
        back_populates="endpoint", cascade="all, delete-orphan", order_by="ConfigRow.version"
    )
    tags: Mapped[list[TagRow]] = relationship(
        back_populates="endpoint", cascade="all, delete-orphan", order_by="TagRow.key"
    )


class ConfigRow(Base):
    """One version of an endpoint's config: its served entities and traffic routes."""

    __tablename__ = "endpoint_configs"
    __table_args__ = (UniqueConstraint("endpoint_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    routes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    auto_capture: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    start_time: Mapped[int] = mapped_column(BigInteger, nullable=False)

    endpoint: Mapped[EndpointRow] = relationship(back_populates="configs")
    entities: Mapped[list[ServedEntityRow]] = relationship(
        back_populates="config", cascade="all, delete-orphan", order_by="ServedEntityRow.position"
    )


class ServedEntityRow(Base):
    """A served model version inside one config version, with its deployment state."""

    __tablename__ = "served_entities"
    __table_args__ = (UniqueConstraint("config_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    config_id: Mapped[int] = mapped_column(
        ForeignKey("endpoint_configs.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    entity_name: Mapped[str] = mapped_column(String(255), nullable=False)
    entity_version: Mapped[str] = mapped_column(String(64), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    legacy_form: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    creator: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deployment_state: Mapped[str] = mapped_column(String(32), nullable=False)
    state_message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    resolved_version: Mapped[str | None] = mapped_column(String(64))
    scaling: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # replicas now and bounds

    config: Mapped[ConfigRow] = relationship(back_populates="entities")


class TagRow(Base):
    __tablename__ = "endpoint_tags"

    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)

    endpoint: Mapped[EndpointRow] = relationship(back_populates="tags")


class TokenRow(Base):
    """An API token, kept only as its SHA-256 digest."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    principal: Mapped[str] = mapped_column(String(255), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)


class ModelServingRow(Base):
    """A registered model whose every non-archived version is served (per-model serving)."""

    __tablename__ = "model_serving"

    model_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    creator: Mapped[str] = mapped_column(String(255), nullable=False)
    enabled_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ModelServingEventRow(Base):
    __tablename__ = "model_serving_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, nullable=False)


class PrincipalRow(Base):
    """A user, a group or a service principal."""

    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("kind", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    entitlements: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class GroupMemberRow(Base):
    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )


SERVING_ENDPOINT = "serving-endpoints"  # permission object types
SERVED_MODEL = "serving-models"  # per-model serving of a registered model
CAN_MANAGE = "CAN_MANAGE"


class PermissionRow(Base):
    """A direct grant of a permission level on an object (a serving endpoint, a served model)."""

    __tablename__ = "permissions"

    object_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    principal_id: Mapped[str] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[str] = mapped_column(String(32), nullable=False)


class AuditEventRow(Base):
    """A control-plane change or a refused request: who, what, when, from where."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    principal: Mapped[str | None] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    client: Mapped[str | None] = mapped_column(String(255))


class SecretScopeRow(Base):
    __tablename__ = "secret_scopes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SecretRow(Base):
    """A secret's value, encrypted with the key in ``$SERVEGATE_HOME/secrets.key``."""

    __tablename__ = "secrets"

    scope: Mapped[str] = mapped_column(
        ForeignKey("secret_scopes.name", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    updated_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RoutingSnapshotRow(Base):
    """What the leading gateway routes to, for the gateways and workers that follow it.

    One row; ``generation`` grows with every change so followers poll a single integer.
    """

    __tablename__ = "routing_snapshot"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)
    leader: Mapped[str] = mapped_column(String(255), nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    written_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RateBucketRow(Base):
    """A rate limit's token bucket, shared by every gateway process (see gateway.rate_limits)."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Double, nullable=False)
    updated: Mapped[float] = mapped_column(Double, nullable=False)  # Unix time, seconds


class EndpointEventRow(Base):
    """Something that happened to an endpoint: config updates, replica exits, scaling."""

    __tablename__ = "endpoint_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False, index=True
    )
    timestamp: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event_type: Mapped[str] = mapped_column(String(32), nullable=False)
    served_name: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text, nullable=False)


class WakeRequestRow(Base):
    """A request arrived at a gateway that does not lead for a served entity scaled to zero."""

    __tablename__ = "wake_requests"

    endpoint_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    served_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    requested_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class FeatureTableRow(Base):
    """A feature table's definition; its values live in the online store, keyed by ``id``."""

    __tablename__ = "feature_tables"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    primary_keys: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    columns: Mapped[list[list[str]]] = mapped_column(JSON, nullable=False)  # [name, type], in order
    timestamp_key: Mapped[str | None] = mapped_column(String(255))
    ttl_seconds: Mapped[float | None] = mapped_column(Double)
    description: Mapped[str | None] = mapped_column(Text)
    creator: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class FeatureHistoryRow(Base):
    """A row once upserted into a feature table: the offline copy training sets join on."""

    __tablename__ = "feature_history"
    __table_args__ = (Index("ix_feature_history_lookup", "table_id", "key", "event_time"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    table_id: Mapped[str] = mapped_column(String(32), nullable=False)
    key: Mapped[str] = mapped_column(Text, nullable=False)  # as encode_key writes it
    event_time: Mapped[float] = mapped_column(Double, nullable=False)
    expires_at: Mapped[float | None] = mapped_column(Double)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)


class FeatureSpecRow(Base):
    """A named feature spec (``FeatureSpec.to_dict``), which an endpoint can serve alone."""

    __tablename__ = "feature_specs"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    creator: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[int] = mapped_column(BigInteger, nullable=False)


class InferenceRecordRow(Base):
    """A request an endpoint answered, in its inference table (``inference_tables``)."""

    __tablename__ = "inference_records"
    __table_args__ = (Index("ix_inference_records_endpoint_time", "endpoint_id", "timestamp_ms"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    request_id: Mapped[str] = mapped_column(String(128), nullable=False)
    client_request_id: Mapped[str | None] = mapped_column(Text)
    endpoint_id: Mapped[str] = mapped_column(String(32), nullable=False)
    endpoint_name: Mapped[str] = mapped_column(String(63), nullable=False)
    served_model_name: Mapped[str | None] = mapped_column(String(255))
    model_name: Mapped[str | None] = mapped_column(String(255))
    model_version: Mapped[str | None] = mapped_column(String(64))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    execution_time_ms: Mapped[float] = mapped_column(Double, nullable=False)
    requester: Mapped[str] = mapped_column(String(255), nullable=False)
    request: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
