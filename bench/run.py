"""One command, one machine, one run: servegate against ``mlflow models serve`` and the floor.

    python -m bench.run [--seconds 10] [--connections 1,8,64] [--rows 1,32]

For each model (logreg, forest) each server is started alone, timed from spawn to its first
prediction (cold start; for the gateway also the wake of a scaled-to-zero endpoint: one
request's time while a replica starts for it), measured for memory (per replica too),
checked to answer the same predictions as ``mlflow models serve``, then loaded with wrk at
every connection count and row count. Prints a table with ratios to mlflow serve and writes
everything as JSON to ``bench/results/``. All traffic goes to 127.0.0.1 and every run is
bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from bench.load import wrk
from bench.models import BenchModel, register_models
from bench.servers import SERVERS, memory_mb, running, wake_seconds

console = Console(width=150)
PEER = "mlflow"


def _predictions(url: str, headers: dict[str, str], body: bytes) -> Any:
    response = requests.post(
        url, data=body, timeout=60, headers={**headers, "Content-Type": "application/json"}
    )
    response.raise_for_status()
    return response.json()["predictions"]


def measure_model(
    model: BenchModel,
    servers: list[str],
    rows: list[int],
    connections: list[int],
    seconds: int,
    work: Path,
) -> dict[str, Any]:
    found: dict[str, Any] = {"model": model.name, "servers": {}}
    check_body = model.body(32)
    for name in servers:
        console.print(f"[bold]{model.name}[/] on [bold]{name}[/]: starting")
        with running(name, model.uri, model.body(1), work) as server:
            entry: dict[str, Any] = {
                "cold_start_s": round(server.cold_start_s, 2),
                "memory": memory_mb(server),
                "predictions": _predictions(server.url, server.headers, check_body),
                "load": [],
            }
            for row_count in rows:
                body = model.body(row_count)
                for conns in connections:
                    result = wrk(server.url, body, server.headers, conns, seconds)
                    entry["load"].append({"rows": row_count, "connections": conns, **result})
                    console.print(f"  rows={row_count} conns={conns}: {result}")
            if name == "gateway":  # the wake is the same with more replicas: measured once
                entry["wake_s"] = round(wake_seconds(server, model.body(1)), 2)
                console.print(f"  zero to first prediction: {entry['wake_s']} s")
        found["servers"][name] = entry
    # Without the peer in the run, the first server's predictions are the reference.
    servers_run = found["servers"]
    reference = servers_run.get(PEER, next(iter(servers_run.values()), {})).get("predictions")
    found["identical_predictions"] = {
        name: entry["predictions"] == reference for name, entry in servers_run.items()
    }
    return found


def report(results: list[dict[str, Any]]) -> None:
    table = Table(
        "model",
        "rows",
        "conns",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "× mlflow req/s",
        "× mlflow p50",
        title="Throughput and latency",
    )
    for model in results:
        servers = model["servers"]
        peer = {(r["rows"], r["connections"]): r for r in servers.get(PEER, {}).get("load", [])}
        for name, entry in servers.items():
            for row in entry["load"]:
                base = peer.get((row["rows"], row["connections"]))
                rps_ratio = f"{row['rps'] / base['rps']:.2f}" if base and base["rps"] else "-"
                p50_ratio = f"{row['p50_ms'] / base['p50_ms']:.2f}" if base else "-"
                table.add_row(
                    model["model"],
                    str(row["rows"]),
                    str(row["connections"]),
                    name,
                    f"{row['rps']:.0f}",
                    f"{row['p50_ms']:.2f}",
                    f"{row['p99_ms']:.2f}",
                    str(row["errors"]),
                    rps_ratio,
                    p50_ratio,
                )
    console.print(table)
    startup = Table(
        "model",
        "server",
        "cold start s",
        "wake from zero s",
        "RSS MB",
        "unique MB",
        "unique MB / replica",
        "same predictions",
        title="Cold start, memory, correctness",
    )
    for model in results:
        for name, entry in model["servers"].items():
            startup.add_row(
                model["model"],
                name,
                f"{entry['cold_start_s']:.2f}",
                f"{entry['wake_s']:.2f}" if "wake_s" in entry else "-",
                f"{entry['memory']['rss_mb']:.0f}",
                f"{entry['memory']['unique_mb']:.0f}",
                str(entry["memory"].get("replica_unique_mb", "-")),
                str(model["identical_predictions"][name]),
            )
    console.print(startup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="1,8,64")
    parser.add_argument("--rows", default="1,32")
    parser.add_argument(
        "--models", default="logreg,forest", help="also: xgboost, pyfunc (not for the floor)"
    )
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="servegate-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    os.chdir(work)  # MLflow keeps local artifacts relative to here
    models = register_models(tuple(args.models.split(",")))
    results = [
        measure_model(
            models[name],
            args.servers.split(","),
            [int(r) for r in args.rows.split(",")],
            [int(c) for c in args.connections.split(",")],
            args.seconds,
            work,
        )
        for name in args.models.split(",")
    ]
    report(results)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "seconds_per_run": args.seconds,
                "results": results,
            },
            indent=2,
        )
    )
    console.print(f"Wrote {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
