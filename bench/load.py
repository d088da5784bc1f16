"""Load with wrk: requests/s and latency percentiles of POSTing one body, bounded in time."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

_SCRIPT = """
wrk.method = "POST"
wrk.body = io.open("{body}", "rb"):read()
wrk.headers["Content-Type"] = "application/json"
{headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %f %f %f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def wrk(
    url: str, body: bytes, headers: dict[str, str], connections: int, seconds: int
) -> dict[str, float]:
    """Run wrk against 127.0.0.1 for ``seconds``; latencies in milliseconds."""
    assert url.startswith("http://127.0.0.1:"), "load goes to this machine only"
    with tempfile.TemporaryDirectory() as folder:
        body_path = Path(folder) / "body.json"
        body_path.write_bytes(body)
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        script = Path(folder) / "post.lua"
        script.write_text(_SCRIPT.format(body=body_path, headers=lines))
        threads = min(2, connections)
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    match = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no result: {out}")
    requests, errors, duration_us, p50_us, p99_us, _ = match.groups()
    return {
        "rps": round(int(requests) / (int(duration_us) / 1e6), 1),
        "p50_ms": round(float(p50_us) / 1000, 3),
        "p99_ms": round(float(p99_us) / 1000, 3),
        "errors": int(errors),
        "requests": int(requests),
    }
