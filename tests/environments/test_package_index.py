"""uv is pointed where pip is configured to look (read by pip itself)."""

from __future__ import annotations

import pytest

from servegate.environments.package_index import PackageIndex


def test_pips_index_settings_become_uvs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///srv/a/simple file:///srv/b/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "/srv/wheels")
    monkeypatch.setenv("PIP_CERT", "/srv/ca.pem")
    index = PackageIndex.from_pip_config()
    args = list(index.args)
    assert args[args.index("--index-url") + 1] == "https://mirror.example/simple"
    extra = [args[i + 1] for i, arg in enumerate(args) if arg == "--extra-index-url"]
    assert extra == ["file:///srv/a/simple", "file:///srv/b/simple"]
    assert args[args.index("--index-strategy") + 1] == "unsafe-best-match"
    assert args[args.index("--find-links") + 1] == "/srv/wheels"
    assert index.env == {"SSL_CERT_FILE": "/srv/ca.pem"}
