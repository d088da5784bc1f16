"""The state values of the Databricks serving API, shared by store, reconciler and API."""

from __future__ import annotations

from enum import Enum


class ConfigUpdate(str, Enum):
    NOT_UPDATING = "NOT_UPDATING"
    IN_PROGRESS = "IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"
    UPDATE_CANCELED = "UPDATE_CANCELED"


class Ready(str, Enum):
    READY = "READY"
    NOT_READY = "NOT_READY"


class Deployment(str, Enum):
    CREATING = "DEPLOYMENT_CREATING"
    READY = "DEPLOYMENT_READY"
    FAILED = "DEPLOYMENT_FAILED"
    ABORTED = "DEPLOYMENT_ABORTED"
    RECOVERING = "DEPLOYMENT_RECOVERING"


class ConfigStatus(str, Enum):
    """Lifecycle of one stored config version."""

    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"
    RETIRED = "RETIRED"
