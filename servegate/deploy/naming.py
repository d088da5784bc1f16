"""Kubernetes names and labels for servegate's objects.

Endpoint and served-model names allow what Kubernetes names do not (upper case, ``_``, up
to 255 characters), and two different pairs can read the same once lowered (``a-b``/``c``
and ``a``/``b-c``). So a served model's objects are named by its readable parts plus a
short hash of the exact pair: always unique, always a valid DNS-1035 label (what a Service
name must be), stable between runs.
"""

from __future__ import annotations

import hashlib
import re

MAX_LABEL = 63
_HASH_LENGTH = 6
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:_HASH_LENGTH]


def served_model_name(endpoint: str, served: str) -> str:
    """The name of a served model's Deployment, Service, HPA and PDB (a DNS-1035 label)."""
    readable = _NOT_DNS.sub("-", f"{endpoint}-{served}".lower()).strip("-")
    readable = readable[: MAX_LABEL - _HASH_LENGTH - 1].rstrip("-")
    if not readable or not readable[0].isalpha():
        readable = f"m-{readable}"[: MAX_LABEL - _HASH_LENGTH - 1].rstrip("-")
    return f"{readable}-{_digest(endpoint, served)}"


def label_value(value: str) -> str:
    """``value`` itself when it is a valid label value, else a valid one with its hash."""
    if len(value) <= MAX_LABEL and LABEL_VALUE.match(value):
        return value
    readable = _NOT_LABEL_VALUE.sub("-", value).strip("-_.")
    readable = readable[: MAX_LABEL - _HASH_LENGTH - 1].rstrip("-_.")
    return f"{readable}-{_digest(value)}" if readable else _digest(value)


def secret_name(scope: str) -> str:
    """The Kubernetes Secret that stands for a servegate secret scope (``servegate-SCOPE``)."""
    readable = _NOT_DNS.sub("-", scope.lower()).strip("-")
    if readable == scope and len(scope) <= 50:
        return f"servegate-{scope}"
    return "-".join(filter(None, ("servegate", readable[:40].rstrip("-"), _digest(scope))))


def image_name(model_name: str) -> str:
    """A Docker repository name for a registered model (lower case; a hash if changed)."""
    readable = _NOT_DNS.sub("-", model_name.lower()).strip("-")[:100].rstrip("-")
    if readable == model_name:
        return readable
    return "-".join(filter(None, (readable, _digest(model_name))))
