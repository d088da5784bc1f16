"""The replica process: build log, load failure, SIGTERM and dying with its parent."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time

from tests.replica.conftest import (
    Registry,
    ReplicaProcess,
    free_port,
    replica_command,
)

TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def nothing_listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_load_failure_exits_without_listening(registry: Registry) -> None:
    build_log = registry.root / "missing-build.log"
    port = free_port()
    result = subprocess.run(
        replica_command(
            "models:/does-not-exist/1", "--port", str(port), "--build-log", str(build_log)
        ),
        env=registry.env(),
        cwd=registry.root,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr.decode()
    lines = build_log.read_text().splitlines()
    assert lines, "the build log is empty"
    assert all(re.match(TIMESTAMP + " ", line) for line in lines)
    assert "models:/does-not-exist/1" in lines[0]
    failure = lines[-1]
    assert "failed to load models:/does-not-exist/1" in failure
    assert "does-not-exist" in failure.split(": ", 1)[1]
    assert "Exception" in failure or "Error" in failure
    assert b"Traceback" in result.stderr
    assert not any("serving on" in line for line in lines)
    assert nothing_listens(port)


def test_build_log_and_dying_with_the_parent(registry: Registry) -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    build_log = registry.root / "watched-build.log"
    replica = ReplicaProcess.start(
        registry,
        registry.models["custom"].uri,
        "--parent-pid",
        str(parent.pid),
        "--build-log",
        str(build_log),
    )
    try:
        replica.wait_ready()
        lines = build_log.read_text().splitlines()
        steps = [line.split(" ", 1)[1] for line in lines]
        assert all(re.match(TIMESTAMP + " ", line) for line in lines)
        assert steps[0] == f"resolving {registry.models['custom'].uri}"
        assert any(re.fullmatch(r"downloaded artifacts in \d+\.\d\ds", step) for step in steps)
        assert any(
            re.fullmatch(r"loaded model \(flavor python_function, mlflow [\d.]+\) in \d+\.\d\ds", s)
            for s in steps
        )
        assert re.fullmatch(r"serving on http://127\.0\.0\.1:\d+", steps[-1])

        time.sleep(1)
        assert replica.process.poll() is None, "the replica must stay while its parent lives"
        parent.kill()
        parent.wait()
        started = time.monotonic()
        replica.process.wait(timeout=10)
        assert time.monotonic() - started < 10
    finally:
        parent.kill()
        parent.wait()
        replica.stop()


def test_sigterm_stops_gracefully(registry: Registry) -> None:
    replica = ReplicaProcess.start(registry, registry.models["custom"].uri)
    try:
        replica.wait_ready()
        replica.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert replica.process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert "Traceback" not in replica.log.read_text()
    finally:
        replica.stop()


def test_a_model_computes_on_one_thread_unless_the_environment_says_otherwise(
    registry: Registry,
) -> None:
    model = registry.models["xgboost"]
    body = {"dataframe_split": model.sample.to_dict(orient="split")}
    started = {
        threads: ReplicaProcess.start(
            registry,
            model.uri,
            "--build-log",
            str(registry.root / f"threads-{threads}.log"),
            env={"OMP_NUM_THREADS": threads} if threads else {},
        )
        for threads in ("", "2", "many")
    }
    try:
        answers = {}
        for threads, replica in started.items():
            replica.wait_ready()
            response = replica.client.post("/invocations", json=body)
            assert response.status_code == 200, response.text
            answers[threads] = response.json()
        assert answers[""] == answers["2"] == answers["many"]
        for threads, shown in (
            ("", "threads: 1 (OMP_NUM_THREADS)"),
            ("2", "threads: 2 (OMP_NUM_THREADS)"),
            ("many", "threads: OMP_NUM_THREADS='many' is not a count; libraries' own"),
        ):
            log = (registry.root / f"threads-{threads}.log").read_text().splitlines()
            assert [line.split(" ", 1)[1] for line in log][-2] == shown
    finally:
        for replica in started.values():
            replica.stop()
