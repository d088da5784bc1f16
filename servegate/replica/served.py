"""What a replica serves: its model (or feature spec) loaded and wrapped in the scoring app.

Kept apart from the process around it (``servegate.replica.server``) so any host can serve
the same app: a replica process of its own, or a Ray Serve replica
(``servegate.backends.ray_replica``).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from mlflow.types.schema import ColSpec, DataType
from starlette.types import ASGIApp

from servegate.backends.base import FEATURE_SPEC_SCHEME
from servegate.features.join import FeatureJoiner, describe_features
from servegate.features.online import open_online_store
from servegate.features.spec import METADATA_KEY, FeatureSpec
from servegate.features.tables import tables_from_json
from servegate.observability import metrics
from servegate.replica.app import build_app
from servegate.replica.array_questions import answer_arrays_at_once
from servegate.replica.batching import NO_WAIT_BATCHING, Batching
from servegate.replica.buildlog import BuildLog
from servegate.replica.fastpath import compile_fast_path
from servegate.replica.feature_serving import build_feature_serving_app
from servegate.replica.memory import settle_after_loading
from servegate.replica.model import LoadedModel, load
from servegate.replica.signature_rows import FRAME_KINDS, SignatureRows, signature_rows


@dataclass(frozen=True)
class FeatureSource:
    """Where a model with a feature spec finds its tables and their values. The JSON comes
    as bytes, so a host without the gateway's files (a Ray node) gets it all the same."""

    online_store: str | None = None
    prefix: str = "servegate:"
    tables_json: bytes | None = None  # the feature tables' definitions, as the API lists them
    spec_json: bytes | None = None  # a feature spec served alone (FeatureSpec.to_dict)

    def joiner(self, model: LoadedModel) -> FeatureJoiner | None:
        """The model's feature stage, or None if it looks nothing up."""
        spec = (model.metadata.metadata or {}).get(METADATA_KEY)
        if spec is None:
            return None
        schema = model.input_schema
        types = {}
        if schema is not None and schema.has_input_names():
            types = {
                column.name: column.type.to_pandas()
                for column in schema.inputs
                if isinstance(column, ColSpec) and isinstance(column.type, DataType)
            }
        return self._joiner(spec, types)

    def served_spec(self) -> FeatureJoiner:
        """The joiner of the feature spec this replica serves without a model."""
        if self.spec_json is None:
            raise ValueError("a feature spec replica needs the spec (--feature-spec)")
        return self._joiner(orjson.loads(self.spec_json), {})

    def _joiner(self, spec: dict[str, Any], types: dict[str, Any]) -> FeatureJoiner:
        if self.online_store is None or self.tables_json is None:
            raise ValueError(
                "features are looked up: start the replica with --online-store and --feature-tables"
            )
        tables = {table.name: table for table in tables_from_json(self.tables_json)}
        store = open_online_store(self.online_store, self.prefix)
        return FeatureJoiner(FeatureSpec.from_dict(spec), tables, store, types)


@dataclass(frozen=True)
class ReplicaOptions:
    """How a replica answers, whatever hosts it."""

    max_request_bytes: int
    max_rows: int
    concurrency: int
    fast_path: bool = True
    batching: Batching = NO_WAIT_BATCHING
    features: FeatureSource = field(default_factory=FeatureSource)
    metrics_labels: tuple[str, str] = ("", "")
    access_log: bool = False


@dataclass(frozen=True)
class ServedApp:
    app: ASGIApp
    cleanup: Callable[[], None]  # removes downloaded artifacts once the app stops


class LoadFailed(Exception):
    """The model (or feature spec) did not load; the build log says why."""


def load_served_app(
    model_uri: str, cache_dir: Path | None, build_log: BuildLog, options: ReplicaOptions
) -> ServedApp:
    """Load ``model_uri`` and build its scoring app; on failure, write the reason as the
    build log's last line (what the API shows) and raise ``LoadFailed`` with it."""
    try:
        if model_uri.startswith(FEATURE_SPEC_SCHEME):
            served = _feature_serving_app(build_log, options)
        else:
            served = _model_app(model_uri, cache_dir, build_log, options)
    except Exception as error:
        traceback.print_exc()
        reason = " ".join(str(getattr(error, "message", error)).split())  # one line, shown
        message = f"failed to load {model_uri}: {type(error).__name__}: {reason}"
        build_log.write(message)
        raise LoadFailed(message) from error
    settle_after_loading()
    return served


def _feature_serving_app(build_log: BuildLog, options: ReplicaOptions) -> ServedApp:
    served = options.features.served_spec()
    build_log.write(f"feature serving: {describe_features(served)}")
    served.on_read = metrics.FEATURE_LOOKUP.labels(*options.metrics_labels).observe
    app = build_feature_serving_app(
        served,
        options.max_request_bytes,
        options.concurrency,
        options.max_rows,
        options.metrics_labels,
        options.access_log,
    )
    return ServedApp(app, lambda: None)


def _model_app(
    model_uri: str, cache_dir: Path | None, build_log: BuildLog, options: ReplicaOptions
) -> ServedApp:
    model, artifacts = load(model_uri, cache_dir, build_log)
    joiner = options.features.joiner(model)
    if joiner is not None:
        build_log.write(f"feature lookups: {describe_features(joiner)}")
        joiner.on_read = metrics.FEATURE_LOOKUP.labels(*options.metrics_labels).observe
    fast, frames = None, None
    if options.fast_path:
        build_log.write(f"scikit-learn's dataframe questions: {answer_arrays_at_once()}")
    if options.fast_path and joiner is None:
        fast, verdict = compile_fast_path(model)
        build_log.write(f"fast path: {verdict}")
    if options.fast_path and fast is None:
        decoder = signature_rows(model.input_schema, FRAME_KINDS)
        if isinstance(decoder, SignatureRows):
            frames = decoder
            build_log.write(f"pyfunc path: {decoder.described} decoded directly")
    app = build_app(
        model,
        options.max_request_bytes,
        options.concurrency,
        options.max_rows,
        fast,
        frames,
        options.batching,
        joiner,
        options.metrics_labels,
        options.access_log,
    )
    return ServedApp(app, artifacts.cleanup)
