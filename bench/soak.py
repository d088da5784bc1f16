"""A soak run: steady load on one endpoint for minutes, watching memory and latency.

    python -m bench.soak [--minutes 10] [--window 30] [--connections 8]

One gateway serves the logistic regression from one endpoint with its inference table on
(every request captured to the store), so the whole request path runs: auth, routing, the
proxy hop, the replica's fast path, metrics, capture. wrk loads it window after window; after
each window the memory of the gateway, its zygote and its replica, and the CPU time they
spent per request, are read from /proc (CPU per request moves far less than latency when
other work shares the machine). The report compares the first and last quarters of the run
(the first window is warm-up and not counted): a leak shows as memory that keeps growing, a
slowdown as latency or CPU per request that does. Not run in CI: it takes minutes. All
traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.capture import TABLE, _cpu_seconds, _register
from bench.load import wrk
from bench.servers import free_port, process_tree, tree_memory_mb
from tests.e2e.gateway_process import GatewayProcess

console = Console(width=150)
FIGURES = ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "rss_mb", "unique_mb")


def soak(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    gateway = GatewayProcess(work / "home", port=free_port()).start()
    try:
        model = _register(gateway)
        name, version = model.uri.removeprefix("models:/").split("/")
        gateway.create("soak", [{"entity_name": name, "entity_version": version}])
        settings = {"inference_table_config": TABLE}
        gateway.api("PUT", "/api/2.0/serving-endpoints/soak/ai-gateway", json=settings)
        url = f"{gateway.url}/serving-endpoints/soak/invocations"
        body = model.body(1)
        assert gateway.process is not None
        windows = []
        started = time.monotonic()
        while time.monotonic() - started < args.minutes * 60:
            cpu_before = _cpu_seconds(gateway.process.pid)
            result = wrk(url, body, gateway.headers, args.connections, args.window)
            cpu = (
                (_cpu_seconds(gateway.process.pid) - cpu_before) * 1000 / max(result["requests"], 1)
            )
            memory = tree_memory_mb(process_tree(gateway.process.pid))
            window = {
                "minute": round((time.monotonic() - started) / 60, 1),
                **result,
                "cpu_ms_per_request": round(cpu, 3),
                **memory,
            }
            windows.append(window)
            console.print(window)
        return windows
    finally:
        gateway.stop()


def summary(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """First and last quarter (after the warm-up window) of each figure, and their ratio."""
    counted = windows[1:]
    quarter = max(1, len(counted) // 4)
    first, last = counted[:quarter], counted[-quarter:]
    figures = {}
    for key in FIGURES:
        before = statistics.median(w[key] for w in first)
        after = statistics.median(w[key] for w in last)
        figures[key] = {"first": before, "last": after, "ratio": round(after / before, 3)}
    figures["requests"] = sum(w["requests"] for w in windows)
    figures["errors"] = sum(w["errors"] for w in windows)
    return figures


def report(windows: list[dict[str, Any]], figures: dict[str, Any]) -> None:
    table = Table(
        "minute", "req/s", "p50 ms", "p99 ms", "CPU ms / req", "errors", "RSS MB", "unique MB"
    )
    for w in windows:
        table.add_row(
            f"{w['minute']:.1f}",
            f"{w['rps']:.0f}",
            f"{w['p50_ms']:.2f}",
            f"{w['p99_ms']:.2f}",
            f"{w['cpu_ms_per_request']:.3f}",
            str(w["errors"]),
            f"{w['rss_mb']:.0f}",
            f"{w['unique_mb']:.0f}",
        )
    console.print(table)
    trend = Table("figure", "first quarter", "last quarter", "last / first", title="Soak")
    for key in FIGURES:
        entry = figures[key]
        trend.add_row(key, f"{entry['first']:.2f}", f"{entry['last']:.2f}", f"{entry['ratio']:.3f}")
    console.print(trend)
    console.print(f"{figures['requests']} requests, {figures['errors']} errors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--window", type=int, default=30, help="seconds of load per reading")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="servegate-bench-soak-"))
    os.chdir(work)  # MLflow keeps local artifacts relative to here
    windows = soak(args, work)
    figures = summary(windows)
    report(windows, figures)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"soak-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {"args": vars(args) | {"out": str(args.out)}, "windows": windows, "summary": figures},
            indent=2,
        )
    )
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
