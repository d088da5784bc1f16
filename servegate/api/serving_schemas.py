"""Request bodies of the Databricks serving-endpoints API, parsed and checked with pydantic.

Unknown fields are ignored (the SDK sends fields a self-hosted server has no use for, such
as ``config.name``); known fields are type-checked and turned into ``EndpointConfig``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from servegate.endpoint_config import (
    FEATURE_SPEC_VERSION,
    RATE_LIMIT_KEYS,
    WORKLOAD_CONCURRENCY,
    WORKLOAD_TYPES,
    EndpointConfig,
    Route,
    ServedEntitySpec,
    build_endpoint_config,
)
from servegate.environments import EnvManager
from servegate.errors import BadRequest, InvalidParameterValue
from servegate.inference_tables import InferenceTable, settle
from servegate.registry.references import canonical_reference

# Provisioned concurrency above this is a typo, not a plan: 1,024 replicas of 4 slots.
MAX_CONCURRENCY = 4096


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _version_string(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _ServedInput(_Input):
    name: str | None = None
    workload_size: str = "Small"
    workload_type: str = "CPU"
    scale_to_zero_enabled: bool = False
    environment_vars: dict[str, str] | None = None
    min_provisioned_concurrency: int | None = Field(default=None, ge=0, le=MAX_CONCURRENCY)
    max_provisioned_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    max_batch_rows: int | None = Field(default=None, ge=1, le=100_000)
    max_batch_wait_ms: float | None = Field(default=None, ge=0, le=1_000)
    env_manager: EnvManager | None = None

    @field_validator("workload_size")
    @classmethod
    def _known_size(cls, value: str) -> str:
        if value not in WORKLOAD_CONCURRENCY:
            raise ValueError(f"must be one of {', '.join(WORKLOAD_CONCURRENCY)}, not {value!r}")
        return value

    @field_validator("workload_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in WORKLOAD_TYPES:
            raise ValueError(f"must be one of {', '.join(WORKLOAD_TYPES)}, not {value!r}")
        return value

    @model_validator(mode="after")
    def _concurrency_range(self) -> _ServedInput:
        low, high = self.min_provisioned_concurrency, self.max_provisioned_concurrency
        if low is not None and high is None:
            raise ValueError(
                "min_provisioned_concurrency needs max_provisioned_concurrency as well"
            )
        if low is not None and high is not None and low > high:
            raise ValueError(
                f"min_provisioned_concurrency ({low}) is above max_provisioned_concurrency ({high})"
            )
        return self

    def _spec(self, model_name: str, model_version: str, legacy_form: bool) -> ServedEntitySpec:
        model_version = canonical_reference(model_version)
        return ServedEntitySpec(
            name=self.name
            or "-".join(filter(None, (model_name.replace(".", "-"), model_version.lstrip("@")))),
            entity_name=model_name,
            entity_version=model_version,
            workload_size=self.workload_size,
            workload_type=self.workload_type,
            scale_to_zero_enabled=self.scale_to_zero_enabled,
            environment_vars=dict(self.environment_vars or {}),
            min_provisioned_concurrency=self.min_provisioned_concurrency,
            max_provisioned_concurrency=self.max_provisioned_concurrency,
            max_batch_rows=self.max_batch_rows,
            max_batch_wait_ms=self.max_batch_wait_ms,
            env_manager=self.env_manager,
            legacy_form=legacy_form,
        )


class ServedEntityInput(_ServedInput):
    entity_name: str | None = None
    entity_version: str | None = None
    external_model: dict[str, Any] | None = None

    _as_string = field_validator("entity_version", mode="before")(_version_string)

    def to_spec(self, index: int) -> ServedEntitySpec:
        if self.external_model is not None:
            raise InvalidParameterValue(
                f"served_entities[{index}].external_model: external models are not supported; "
                "serve a registered MLflow model with entity_name and entity_version."
            )
        if not self.entity_name:
            raise InvalidParameterValue(f"served_entities[{index}] needs an entity_name.")
        if not self.entity_version:  # a feature spec: served without a model
            return self._spec(self.entity_name, FEATURE_SPEC_VERSION, legacy_form=False)
        return self._spec(self.entity_name, self.entity_version, legacy_form=False)


class ServedModelInput(_ServedInput):
    model_name: str
    model_version: str

    _as_string = field_validator("model_version", mode="before")(_version_string)

    def to_spec(self, index: int) -> ServedEntitySpec:
        return self._spec(self.model_name, self.model_version, legacy_form=True)


class RouteInput(_Input):
    served_entity_name: str | None = None
    served_model_name: str | None = None
    traffic_percentage: int

    def to_route(self) -> Route:
        name = self.served_entity_name or self.served_model_name
        if not name:
            raise InvalidParameterValue(
                "Each traffic_config route needs served_entity_name (or served_model_name)."
            )
        return Route(name, self.traffic_percentage)


class TrafficConfigInput(_Input):
    routes: list[RouteInput] = []


class InferenceTableInput(_Input):
    """``auto_capture_config`` and ``ai_gateway.inference_table_config``."""

    catalog_name: StrictStr | None = None
    schema_name: StrictStr | None = None
    table_name_prefix: StrictStr | None = None
    enabled: StrictBool | None = None

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class EndpointConfigInput(_Input):
    served_entities: list[ServedEntityInput] | None = None
    served_models: list[ServedModelInput] | None = None
    traffic_config: TrafficConfigInput | None = None
    auto_capture_config: InferenceTableInput | None = None

    def to_config(self, endpoint: str, capture: InferenceTable | None = None) -> EndpointConfig:
        """``capture``: the inference table of the config serving now (kept if this one
        leaves ``auto_capture_config`` out)."""
        entities = [e.to_spec(i) for i, e in enumerate(self.served_entities or [])]
        entities += [m.to_spec(i) for i, m in enumerate(self.served_models or [])]
        routes = self.traffic_config.routes if self.traffic_config else []
        if self.auto_capture_config is not None:
            given = self.auto_capture_config.given()
            capture = settle(given, capture, endpoint, "auto_capture_config")
        return build_endpoint_config(
            entities, [route.to_route() for route in routes] or None, capture
        )


class TagInput(_Input):
    key: str = Field(min_length=1, max_length=255)
    value: str | None = None


class RateLimitInput(_Input):
    calls: int = Field(ge=0)
    renewal_period: str = "minute"
    key: str = "endpoint"
    principal: str | None = None
    tokens: int | None = None

    @field_validator("renewal_period")
    @classmethod
    def _per_minute(cls, value: str) -> str:
        if value != "minute":
            raise ValueError(f"must be 'minute', not {value!r}")
        return value

    @field_validator("key")
    @classmethod
    def _known_key(cls, value: str) -> str:
        if value not in RATE_LIMIT_KEYS:
            raise ValueError(f"must be one of {', '.join(RATE_LIMIT_KEYS)}, not {value!r}")
        return value

    def checked(self) -> dict[str, Any]:
        if self.tokens is not None:
            raise InvalidParameterValue("Token-based rate limits apply to LLM endpoints only.")
        if self.key == "user_group" and not self.principal:
            raise InvalidParameterValue("A user_group rate limit names its group in 'principal'.")
        return self.model_dump(exclude_none=True, exclude={"tokens"})


class AiGatewayInput(_Input):
    """The AI gateway settings servegate acts on (rate limits, the inference table); the
    others are kept as given."""

    model_config = ConfigDict(extra="allow")
    rate_limits: list[RateLimitInput] = []
    inference_table_config: InferenceTableInput | None = None

    def to_stored(
        self, endpoint: str, table: InferenceTable | None = None
    ) -> dict[str, Any] | None:
        """The settings to keep; they replace the previous ones, whose inference ``table``
        (if any) the new one must keep the names of while enabled."""
        stored = {
            **(self.model_extra or {}),
            "rate_limits": [r.checked() for r in self.rate_limits],
        }
        if self.inference_table_config is not None:
            given = self.inference_table_config.given()
            table = settle(given, table, endpoint, "ai_gateway.inference_table_config")
            stored["inference_table_config"] = table.to_dict()
        return stored if stored != {"rate_limits": []} else None


class RateLimitsInput(_Input):
    """The deprecated ``PUT .../rate-limits`` body: keys ``user`` or ``endpoint`` only."""

    rate_limits: list[RateLimitInput] = []

    def checked(self) -> list[dict[str, Any]]:
        for limit in self.rate_limits:
            if limit.key not in ("user", "endpoint"):
                raise InvalidParameterValue(
                    f"rate_limits key {limit.key!r}: this route takes 'user' or 'endpoint'; "
                    "use ai_gateway for groups and service principals."
                )
        return [limit.checked() for limit in self.rate_limits]


class CreateEndpointInput(_Input):
    name: str
    config: EndpointConfigInput | None = None
    description: str | None = Field(default=None, max_length=1000)
    tags: list[TagInput] = []
    route_optimized: bool = False
    ai_gateway: AiGatewayInput | None = None
    rate_limits: list[RateLimitInput] | None = None

    def ai_gateway_settings(self) -> dict[str, Any] | None:
        stored = self.ai_gateway.to_stored(self.name) if self.ai_gateway else None
        if self.rate_limits is not None:
            legacy = RateLimitsInput(rate_limits=self.rate_limits).checked()
            stored = {**(stored or {}), "rate_limits": legacy}
        return stored

    def to_config(self) -> EndpointConfig:
        if self.config is None:
            raise InvalidParameterValue(
                "config is required: give served_entities (and traffic_config for several)."
            )
        if self.route_optimized:
            raise InvalidParameterValue(
                "route_optimized endpoints are not supported; leave route_optimized false."
            )
        return self.config.to_config(self.name)


class PatchTagsInput(_Input):
    add_tags: list[TagInput] = []
    delete_tags: list[str] = []


Parsed = TypeVar("Parsed", bound=BaseModel)


def parse_body(body: bytes, model: type[Parsed]) -> Parsed:
    """Decode a JSON request body into ``model``, with 400s that name the offending field."""
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"Request body is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidParameterValue(f"Invalid value for {where}: {first['msg']}.") from error
