"""Where uv finds packages: wherever pip on this machine is set up to look.

uv does not read pip's configuration, and a server behind a mirror has its index, extra
indexes, local wheel folders and CA bundle only there (``/etc/pip.conf``, the user's
``pip.conf``, ``PIP_*`` variables). ``pip config list`` reads all of them with pip's own
precedence, so a virtualenv installs from the same places ``pip install`` would.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

# pip config list prints "scope.key='value'"; a later scope wins over an earlier one.
_SCOPES = ("global", "install", ":env:")
_PIP_CONFIG_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PackageIndex:
    args: tuple[str, ...] = ()  # uv pip install options
    env: dict[str, str] = field(default_factory=dict)  # variables uv reads

    @classmethod
    def from_pip_config(cls) -> PackageIndex:
        settings = _pip_settings()
        args: list[str] = []
        if index := settings.get("index-url"):
            args += ["--index-url", index]
        extra = settings.get("extra-index-url", "").split()
        for url in extra:
            args += ["--extra-index-url", url]
        if extra:
            # pip takes the best version from all its indexes; uv, by default, only from the
            # first that has the package.
            args += ["--index-strategy", "unsafe-best-match"]
        for place in settings.get("find-links", "").split():
            args += ["--find-links", place]
        env = {"SSL_CERT_FILE": cert} if (cert := settings.get("cert")) else {}
        return cls(tuple(args), env)


def _pip_settings() -> dict[str, str]:
    """pip's effective settings for ``pip install``, or none where pip is not installed."""
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=_PIP_CONFIG_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[tuple[int, str], str] = {}
    for line in listed.splitlines():
        name, _, value = line.partition("=")
        scope, _, key = name.rpartition(".")
        if scope in _SCOPES and value:
            found[(_SCOPES.index(scope), key)] = value.strip().strip("'\"")
    return {key: value for (_, key), value in sorted(found.items())}
