"""``servegate quickstart`` serves an 80/20 endpoint and prints snippets that work as printed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import requests

from tests.e2e.gateway_process import free_port
from tests.e2e.processes import alive, interrupt, replica_pids

HEADERS = ("curl:", "Python (requests):", "Python (databricks-sdk):")


def snippet_blocks(output: str) -> dict[str, str]:
    blocks: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line in HEADERS:
            current = line
            blocks[current] = []
        elif current and line.startswith("  "):
            blocks[current].append(line)
        elif current and not line.strip():
            current = None
    return {header: textwrap.dedent("\n".join(lines)) for header, lines in blocks.items()}


def test_quickstart(tmp_path: Path) -> None:
    port, home = free_port(), tmp_path / "home"
    out = (tmp_path / "quickstart.out").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "servegate", "quickstart", "--port", str(port), "--home", str(home)],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 300
        while "Serving until you press Ctrl-C." not in Path(out.name).read_text():
            assert process.poll() is None, Path(out.name).read_text()
            assert time.monotonic() < deadline, Path(out.name).read_text()
            time.sleep(0.5)
        output = Path(out.name).read_text()
        assert "Endpoint 'quickstart' is READY" in output
        blocks = snippet_blocks(output)
        assert set(blocks) == set(HEADERS), output

        curl = subprocess.run(
            ["bash", "-c", blocks["curl:"]], capture_output=True, text=True, timeout=60, check=True
        )
        assert isinstance(json.loads(curl.stdout)["predictions"], list)
        for header in HEADERS[1:]:
            run = subprocess.run(
                [sys.executable, "-c", blocks[header]], capture_output=True, text=True, timeout=120
            )
            assert run.returncode == 0, run.stderr
            served, _, predictions = run.stdout.strip().partition(" ")
            assert served.startswith("quickstart-model-"), run.stdout
            assert predictions.startswith("["), run.stdout

        token = (home / "admin-token").read_text().strip()
        endpoint = requests.get(
            f"http://127.0.0.1:{port}/api/2.0/serving-endpoints/quickstart",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        routes = endpoint["config"]["traffic_config"]["routes"]
        assert sorted(r["traffic_percentage"] for r in routes) == [20, 80]
        replicas = replica_pids(under=str(home))
        assert len(replicas) == 2
    finally:
        interrupt(process, 90, under=str(home))
    assert process.returncode == 0
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in replicas) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in replicas), "no replica outlives quickstart"
