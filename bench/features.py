"""What looking features up adds to a request, on each online store, in one run.

    python -m bench.features [--seconds 5]

A logistic regression trained on 10 features is logged with a feature spec that looks all 10
up by ``customer_id`` in a table of 10,000 customers. One gateway per online store (the
embedded SQLite one, and Redis on 127.0.0.1:6379 under a key prefix of this run's own,
removed afterwards) serves it; wrk at one connection sends, for 1 and for 32 customers, a
body with only the keys (every feature looked up) and a body with the keys and all 10
features (request values win, so nothing is looked up). The difference of the two p50s is
what the lookup adds. All traffic goes to 127.0.0.1 and every run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import redis
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression

from bench.load import wrk
from bench.servers import free_port
from servegate.client import ServegateClient
from servegate.features import FeatureLookup, FeatureSpec, log_model
from tests.e2e.gateway_process import GatewayProcess

REDIS_URL = "redis://127.0.0.1:6379/0"
FEATURES = [f"f{i}" for i in range(10)]
CUSTOMERS = 10_000
console = Console(width=120)


def _register(tracking_uri: str, token: str) -> str:
    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    os.environ["MLFLOW_TRACKING_TOKEN"] = token
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("Default")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(500, 10)), columns=FEATURES)
    labels = (frame.sum(axis=1) > 0).astype(int)
    spec = FeatureSpec(lookups=(FeatureLookup("customers", "customer_id"),))
    info = log_model(
        LogisticRegression().fit(frame, labels),
        "model",
        feature_spec=spec,
        input_example=frame.head(2),
        registered_model_name="bench-features",
    )
    return str(info.registered_model_version)


def _table(client: ServegateClient) -> pd.DataFrame:
    schema = {"customer_id": "long", **dict.fromkeys(FEATURES, "double")}
    client.create_feature_table("customers", ["customer_id"], schema)
    rng = np.random.default_rng(1)
    values = pd.DataFrame(rng.normal(size=(CUSTOMERS, 10)), columns=FEATURES)
    values.insert(0, "customer_id", range(CUSTOMERS))
    client.upsert_features("customers", values)
    return values


def _body(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"dataframe_records": rows}).encode()


def measure(kind: str, seconds: int, work: Path) -> list[dict[str, Any]]:
    prefix = f"servegate-bench-{uuid.uuid4().hex[:8]}:"
    args, env = [], {}
    if kind == "redis":
        args, env = ["--online-store", REDIS_URL], {"SERVEGATE_ONLINE_STORE_PREFIX": prefix}
    gateway = GatewayProcess(work / kind, port=free_port(), args=args, env=env).start()
    try:
        client = ServegateClient(gateway.url, gateway.token)
        values = _table(client)
        version = _register(gateway.url, gateway.token)
        gateway.create("features", [{"entity_name": "bench-features", "entity_version": version}])
        client.close()
        url = f"{gateway.url}/serving-endpoints/features/invocations"
        results = []
        for keys in (1, 32):
            chosen = values.sample(keys, random_state=keys)
            bodies = {
                "keys only (looked up)": _body(
                    [{"customer_id": int(c)} for c in chosen["customer_id"]]
                ),
                "keys + features (no lookup)": _body(chosen.to_dict(orient="records")),
            }
            for label, body in bodies.items():
                result = wrk(url, body, gateway.headers, 1, seconds)
                results.append({"store": kind, "keys": keys, "body": label, **result})
                console.print(f"  {kind} keys={keys} {label}: {result}")
        return results
    finally:
        gateway.stop()
        if kind == "redis":
            client = redis.Redis.from_url(REDIS_URL)
            stale = list(client.scan_iter(match=f"{prefix}*", count=1000))
            if stale:
                client.unlink(*stale)
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="servegate-bench-features-"))
    results = [row for kind in ("sqlite", "redis") for row in measure(kind, args.seconds, work)]
    table = Table("store", "keys", "body", "req/s", "p50 ms", "p99 ms", "lookup adds (p50)")
    for row in results:
        added = "-"
        if row["body"].startswith("keys only"):
            base = next(
                r
                for r in results
                if r["store"] == row["store"] and r["keys"] == row["keys"] and r is not row
            )
            added = f"{row['p50_ms'] - base['p50_ms']:+.2f} ms"
        table.add_row(
            row["store"],
            str(row["keys"]),
            row["body"],
            f"{row['rps']:.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            added,
        )
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"features-{pd.Timestamp.now():%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2))
    console.print(f"Wrote {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
