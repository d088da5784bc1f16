"""The hop's floor: the least a gateway can do in front of a replica.

    python bench/hop_floor.py MODEL_URI PORT WORK_DIR

Starts ``servegate replica`` on a Unix socket, then serves a bare ASGI app on uvicorn (uvloop,
httptools, as the gateway runs) that sends each request's body to the replica through the
gateway's own connection pool and answers with the replica's bytes. No auth, routing, metrics,
audit or Starlette: what the gateway adds over this is what servegate itself costs per request;
what this adds over the replica is what any Python hop costs on the machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from servegate.backends.clients import ReplicaClient

_HEADERS = {"content-type": "application/json"}
_TIMEOUT_S = 30.0


def proxy_to(client: ReplicaClient) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        answer = await client.post("/invocations", body, _HEADERS, _TIMEOUT_S, "POST")
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(b"content-type", answer.content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    return app


def main(model_uri: str, port: int, work: Path) -> None:
    socket_path = work / f"hop-floor-{port}.sock"
    replica = subprocess.Popen(
        [sys.executable, "-m", "servegate", "replica", model_uri, "--uds", str(socket_path)]
        + ["--concurrency", "8"]
    )
    try:
        while not socket_path.exists():
            if replica.poll() is not None:
                raise SystemExit(f"the replica exited with {replica.returncode}")
            time.sleep(0.05)
        app = proxy_to(ReplicaClient(f"unix:{socket_path}"))
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            ws="none",
            lifespan="off",
            access_log=False,
            log_level="warning",
        )
    finally:
        replica.terminate()
        replica.wait(30)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
