"""One command, one machine, one run: servegate against ``mlflow models serve`` and the floor.

    python -m bench.run [--seconds 10] [--rounds 1] [--connections 1,8,64] [--rows 1,32]

For each model (logreg, forest) the servers are started one after the other, each timed from
spawn to its first prediction (cold start; for the gateway also the wake of a scaled-to-zero
endpoint: one request's time while a replica starts for it), measured for memory (per replica
too) and checked to answer the same predictions as ``mlflow models serve``. Then all of them,
up together and idle but for the one loaded, are loaded with wrk at every connection count
and row count in turns, ``--rounds`` times (the median of each figure is reported), so that
what a noisy machine does meanwhile falls on every server alike. Prints a table with ratios
to mlflow serve, one of each hop against the replica it fronts, and writes everything as
JSON to ``bench/results/``. All traffic goes to 127.0.0.1 and every run is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.table import Table

from bench.load import wrk
from bench.models import BenchModel, register_models
from bench.servers import SERVERS, Running, memory_mb, running, wake_seconds

console = Console(width=150)
PEER = "mlflow"
HOPS = ("hop-floor", "gateway", "gateway-2")  # servers in front of a replica


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
    rounds: int,
    work: Path,
) -> dict[str, Any]:
    """Start the servers one after the other (each timed, weighed and checked as it comes
    up), then load them in turns: every load point on every server in a round, the servers'
    order reversed each round, so that what the machine does meanwhile falls on all alike."""
    found: dict[str, Any] = {"model": model.name, "servers": {}}
    check_body = model.body(32)
    with contextlib.ExitStack() as stack:
        up: dict[str, Running] = {}
        for name in servers:
            console.print(f"[bold]{model.name}[/] on [bold]{name}[/]: starting")
            server = up[name] = stack.enter_context(running(name, model.uri, model.body(1), work))
            found["servers"][name] = {
                "cold_start_s": round(server.cold_start_s, 2),
                "memory": memory_mb(server),
                "predictions": _predictions(server.url, server.headers, check_body),
            }
        runs: dict[tuple[str, int, int], list[dict[str, float]]] = defaultdict(list)
        for turn in range(rounds):
            order = list(up.items()) if turn % 2 == 0 else list(reversed(up.items()))
            for row_count in rows:
                body = model.body(row_count)
                for conns in connections:
                    for name, server in order:
                        result = wrk(server.url, body, server.headers, conns, seconds)
                        runs[(name, row_count, conns)].append(result)
                        console.print(f"  {name} rows={row_count} conns={conns}: {result}")
        for name, entry in found["servers"].items():
            entry["load"] = [
                {"rows": r, "connections": c, **median_of(runs[(name, r, c)])}
                for r in rows
                for c in connections
            ]
        if "gateway" in up:  # the wake is the same with more replicas: measured once
            wake = found["servers"]["gateway"]["wake_s"] = round(
                wake_seconds(up["gateway"], model.body(1)), 2
            )
            console.print(f"  zero to first prediction: {wake} s")
    # Without the peer in the run, the first server's predictions are the reference.
    servers_run = found["servers"]
    reference = servers_run.get(PEER, next(iter(servers_run.values()), {})).get("predictions")
    found["identical_predictions"] = {
        name: entry["predictions"] == reference for name, entry in servers_run.items()
    }
    return found


def median_of(results: list[dict[str, float]]) -> dict[str, Any]:
    """One load point's rounds: the median of each figure, errors and requests summed, and
    every round as measured."""
    summary: dict[str, Any] = {
        key: statistics.median(result[key] for result in results)
        for key in ("rps", "p50_ms", "p99_ms")
    }
    summary["errors"] = sum(result["errors"] for result in results)
    summary["requests"] = sum(result["requests"] for result in results)
    if len(results) > 1:
        summary["rounds"] = results
    return summary


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
        peer = _by_point(servers.get(PEER, {}).get("load", []))
        for name, entry in servers.items():
            for row in entry["load"]:
                base = peer.get((row["rows"], row["connections"]))
                rps_ratio = f"{row['rps'] / base['rps']:.2f}" if base and base["rps"] else "-"
                p50_ratio = f"{row['p50_ms'] / base['p50_ms']:.2f}" if base else "-"
                table.add_row(
                    *_point(model, row, name),
                    f"{row['rps']:.0f}",
                    f"{row['p50_ms']:.2f}",
                    f"{row['p99_ms']:.2f}",
                    str(row["errors"]),
                    rps_ratio,
                    p50_ratio,
                )
    console.print(table)
    console.print(against_replica(results))
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


def against_replica(results: list[dict[str, Any]]) -> Table:
    """What each hop in front of a replica costs, load point by load point, against the
    replica loaded directly in the same rounds."""
    table = Table(
        "model",
        "rows",
        "conns",
        "server",
        "added p50 ms",
        "req/s against the replica",
        title="In front of the replica",
    )
    for model in results:
        servers = model["servers"]
        direct = _by_point(servers.get("replica", {}).get("load", []))
        for name in HOPS:
            for row in servers.get(name, {}).get("load", []):
                base = direct.get((row["rows"], row["connections"]))
                if base is None or not base["rps"]:
                    continue
                table.add_row(
                    *_point(model, row, name),
                    f"{row['p50_ms'] - base['p50_ms']:+.2f}",
                    f"{row['rps'] / base['rps'] - 1:+.0%}",
                )
    return table


def _by_point(load: list[dict[str, Any]]) -> dict[tuple[int, int], dict[str, Any]]:
    return {(row["rows"], row["connections"]): row for row in load}


def _point(model: dict[str, Any], row: dict[str, Any], server: str) -> tuple[str, ...]:
    """The cells that say which load point a row of a table is."""
    return model["model"], str(row["rows"]), str(row["connections"]), server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=1, help="load every server this many times, in turns"
    )
    parser.add_argument("--connections", default="1,8,64")
    parser.add_argument("--rows", default="1,32")
    parser.add_argument(
        "--models",
        default="logreg,forest",
        help="also: xgboost, lightgbm, pyfunc (not for the floor)",
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
            args.rounds,
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
                "rounds": args.rounds,
                "results": results,
            },
            indent=2,
        )
    )
    console.print(f"Wrote {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
