"""What inference tables cost: the gateway's throughput with capture off and on, in one run.

    python -m bench.capture [--seconds 10] [--connections 64] [--rounds 3] [--sinks store,parquet]

One gateway per sink serves the logistic regression from one endpoint (workload Small: one
replica) to wrk sending 1-row requests. Each round loads it with capture off, then on — the
endpoint's ``ai_gateway.inference_table_config`` turned off and on, so both measure the same
replica — and the report gives the median req/s of each state and their ratio, and the same
for the CPU time the gateway and its replica spend per request (read from /proc: other load
on the machine moves it far less than req/s). The gateway's metrics then show that every
captured request was written, or counted as dropped. All traffic goes to 127.0.0.1 and every
run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import mlflow
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from bench.load import wrk
from bench.models import BenchModel, register_models
from bench.servers import free_port, process_tree
from tests.e2e.gateway_process import GatewayProcess

BASE = "/api/2.0/serving-endpoints"
TABLE = {"catalog_name": "bench", "schema_name": "serving", "enabled": True}
console = Console(width=150)


def _register(gateway: GatewayProcess) -> BenchModel:
    os.environ["MLFLOW_TRACKING_URI"] = gateway.url
    os.environ["MLFLOW_TRACKING_TOKEN"] = gateway.token
    mlflow.set_tracking_uri(gateway.url)
    mlflow.set_experiment("Default")
    return register_models(("logreg",))["logreg"]


def _capture(gateway: GatewayProcess, body: bytes, on: bool, timeout_s: float = 60) -> None:
    """Turn capture on or off, and wait until a request shows it took effect (the change is
    published within the reconciler's next pass)."""
    settings = {"inference_table_config": TABLE} if on else {}
    gateway.api("PUT", f"{BASE}/bench/ai-gateway", json=settings).raise_for_status()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        probe = f"probe-{uuid.uuid4().hex}"
        requests.post(
            f"{gateway.url}/serving-endpoints/bench/invocations",
            data=body,
            headers={**gateway.headers, "Content-Type": "application/json", "x-request-id": probe},
            timeout=60,
        ).raise_for_status()
        newest = gateway.api("GET", f"{BASE}/bench/inference-records", params={"limit": 5})
        captured = any(r["request_id"] == probe for r in newest.json()["records"])
        if captured == on:
            return
        time.sleep(0.1)
    raise RuntimeError(f"capture did not turn {'on' if on else 'off'}")


def _cpu_seconds(root: int) -> float:
    """CPU time used so far by a process and everything under it (the gateway, its zygote
    and replicas), from /proc."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _load(gateway: GatewayProcess, url: str, body: bytes, args: argparse.Namespace) -> dict:
    """One wrk run, with the CPU the gateway and its replica spent per request: a figure
    other load on the machine moves much less than req/s."""
    assert gateway.process is not None
    before = _cpu_seconds(gateway.process.pid)
    result = wrk(url, body, gateway.headers, args.connections, args.seconds)
    spent = _cpu_seconds(gateway.process.pid) - before
    return {**result, "cpu_ms_per_request": round(spent * 1000 / max(result["requests"], 1), 3)}


def _counted(gateway: GatewayProcess) -> dict[str, float]:
    text = gateway.api("GET", "/metrics").text
    found = {"written": 0.0, "dropped": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("endpoint") != "bench":
                continue
            if sample.name == "servegate_inference_records_written_total":
                found["written"] += sample.value
            elif sample.name == "servegate_inference_records_dropped_total":
                found["dropped"] += sample.value
    return found


def measure(sink: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = {"SERVEGATE_INFERENCE_TABLES": sink}
    gateway = GatewayProcess(work / sink, port=free_port(), env=env).start()
    try:
        model = _register(gateway)
        name, version = model.uri.removeprefix("models:/").split("/")
        gateway.create("bench", [{"entity_name": name, "entity_version": version}])
        body = model.body(1)
        url = f"{gateway.url}/serving-endpoints/bench/invocations"
        wrk(url, body, gateway.headers, args.connections, 2)  # warm up
        runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            for state in ("off", "on"):
                _capture(gateway, body, state == "on")
                result = _load(gateway, url, body, args)
                runs[state].append(result)
                console.print(f"  {sink}, capture {state}: {result}")
        _capture(gateway, body, False)  # writes what this process still holds
        return {
            "sink": sink,
            "runs": runs,
            "requests_while_on": sum(r["requests"] for r in runs["on"]),
            **_counted(gateway),
        }
    finally:
        gateway.stop()


def report(results: list[dict[str, Any]]) -> None:
    table = Table(
        "sink",
        "capture",
        "req/s (median)",
        "p50 ms",
        "p99 ms",
        "CPU ms / req",
        "req/s on / off",
        "CPU on / off",
        "captured: written + dropped",
        title="Inference tables: gateway throughput, 1-row logreg",
    )
    for result in results:
        medians = {
            state: {
                key: statistics.median(run[key] for run in runs)
                for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")
            }
            for state, runs in result["runs"].items()
        }
        result["medians"] = medians
        result["ratio"] = round(medians["on"]["rps"] / medians["off"]["rps"], 3)
        result["cpu_ratio"] = round(
            medians["on"]["cpu_ms_per_request"] / medians["off"]["cpu_ms_per_request"], 3
        )
        for state, median in medians.items():
            on = state == "on"
            table.add_row(
                result["sink"],
                state,
                f"{median['rps']:.0f}",
                f"{median['p50_ms']:.2f}",
                f"{median['p99_ms']:.2f}",
                f"{median['cpu_ms_per_request']:.3f}",
                f"{result['ratio']:.3f}" if on else "",
                f"{result['cpu_ratio']:.3f}" if on else "",
                f"{result['written']:.0f} + {result['dropped']:.0f} "
                f"(wrk: {result['requests_while_on']})"
                if on
                else "",
            )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sinks", default="store,parquet")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="servegate-bench-capture-"))
    os.chdir(work)  # MLflow keeps local artifacts relative to here
    results = [measure(sink, args, work) for sink in args.sinks.split(",")]
    report(results)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"capture-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"connections": args.connections, "results": results}, indent=2))
    console.print(f"Wrote {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
