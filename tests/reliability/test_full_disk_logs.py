"""A full disk under the replicas' logs: serving goes on, and the condition is reported.

The gateway's log folder is a 4 MB file system of its own. A model that prints a line per row
serves while that disk is full; a replica killed then comes back (its build log cannot be
written either); the lines that could not be written are counted in a metric, and the logs API
says so. Once there is room again, logging resumes.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.disks import fill, small_disk
from tests.e2e import special_models
from tests.e2e.conftest import register_into
from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.processes import replica_pids

BASE = "/api/2.0/serving-endpoints"


def chatter(gateway: GatewayProcess, rows: int, start: int) -> requests.Response:
    data = [[float(x)] for x in range(start, start + rows)]
    body = {"dataframe_split": {"columns": ["x"], "data": data}}
    return gateway.api("POST", "/serving-endpoints/talkative/invocations", json=body)


def dropped_log_bytes(gateway: GatewayProcess) -> float:
    text = gateway.api("GET", f"{BASE}/talkative/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "servegate_log_bytes_dropped_total"
    )


def test_a_full_log_disk_keeps_serving_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with small_disk(home / "logs") as disk:
        gateway = GatewayProcess(home).start()
        try:
            chatty = register_into(gateway, lambda: special_models.register_chatty("talkative"))
            gateway.create("talkative", [chatty.entity("m")])
            assert chatter(gateway, 5, start=0).status_code == 200
            logs = f"{BASE}/talkative/served-models/m/logs"
            assert "row 4" in gateway.api("GET", logs).json()["logs"]

            filler = fill(disk)
            for batch in range(20):
                answer = chatter(gateway, 200, start=1000 + batch * 200)
                assert answer.status_code == 200, answer.text
                assert len(answer.json()["predictions"]) == 200
            assert dropped_log_bytes(gateway) > 0

            assert gateway.process is not None
            [replica] = replica_pids(gateway.process.pid)
            os.kill(replica, signal.SIGKILL)
            deadline = time.monotonic() + 120
            while (answer := chatter(gateway, 3, start=9000)).status_code != 200:
                assert time.monotonic() < deadline, answer.text
                time.sleep(0.2)
            shown = gateway.api("GET", logs).json()["logs"]
            assert "could not be written" in shown, shown[-500:]

            filler.unlink()
            assert chatter(gateway, 3, start=7000).status_code == 200
            deadline = time.monotonic() + 30
            while "row 7002" not in (shown := gateway.api("GET", logs).json()["logs"]):
                assert time.monotonic() < deadline, "logging resumed once there was room"
                time.sleep(0.2)
            assert "bytes of log could not be written (disk full)" in shown
            assert "The disk holding this log is full" not in shown.splitlines()[-1]
            assert gateway.process.poll() is None
        finally:
            gateway.stop()
