"""Just-in-time features: feature tables, their online stores, and lookups at request time.

from servegate.features import FeatureFunction, FeatureLookup, FeatureSpec, log_model

spec = FeatureSpec(
    lookups=(FeatureLookup("customer_spend", lookup_key="customer_id"),),
    functions=(FeatureFunction(ratio, {"a": "amount", "b": "spend_30d"}, "amount_ratio"),),
)
log_model(pipeline, "model", feature_spec=spec, signature=..., registered_model_name="churn")
"""

from servegate.features.models import log_model
from servegate.features.spec import FeatureFunction, FeatureLookup, FeatureSpec
from servegate.features.training import build_training_set

__all__ = ["FeatureFunction", "FeatureLookup", "FeatureSpec", "build_training_set", "log_model"]
