"""Log rotation by renaming, reading back across rotations, and the request id on log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from pathlib import Path

import pytest

from servegate.observability import request_ids
from servegate.observability.log_format import LogFormat, configure_logging
from servegate.observability.logs import LogRotator, follow, rotate, tail


def test_rotate_shifts_backups_and_drops_the_oldest(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    for generation in range(4):
        log.write_text(f"generation {generation}\n")
        rotate(log, backups=2)
    assert not log.exists()
    assert (tmp_path / "m.log.1").read_text() == "generation 3\n"
    assert (tmp_path / "m.log.2").read_text() == "generation 2\n"
    assert not (tmp_path / "m.log.3").exists()


def test_the_rotator_only_rotates_what_is_too_big(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    big, small = tmp_path / "a" / "big.log", tmp_path / "small.log"
    big.write_bytes(b"x" * 5000)
    small.write_bytes(b"y" * 10)
    assert LogRotator(tmp_path, max_bytes=4096, backups=3).check() == [big]
    assert (tmp_path / "a" / "big.log.1").stat().st_size == 5000 and small.exists()


def test_tail_reaches_into_the_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "m.log"
    log.write_bytes(b"old-1\nold-2\n")
    rotate(log, backups=1)
    log.write_bytes(b"new\n")
    assert tail(log, 10) == b"old-2\nnew\n"
    assert tail(log, 1000) == b"old-1\nold-2\nnew\n"
    assert tail(tmp_path / "missing.log", 100) == b""


def test_follow_misses_nothing_across_quick_rotations(tmp_path: Path) -> None:
    """A writer that moves to the new file half a second after each rotation, rotations a
    second apart: the follower still sees every line, each once."""
    log = tmp_path / "m.log"
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    async def write() -> None:
        for line in range(60):
            os.write(descriptor, f"row {line}\n".encode())
            await asyncio.sleep(0.03)
            if line % 20 == 10:
                rotate(log, backups=5)
                await asyncio.sleep(0.5)
                fresh = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                os.dup2(fresh, descriptor)
                os.close(fresh)

    async def scenario() -> bytes:
        seen: list[bytes] = []

        async def read() -> None:
            async for chunk in follow(log, 1000):
                seen.append(chunk)

        reader = asyncio.create_task(read())
        await write()
        await asyncio.sleep(2.5)
        reader.cancel()
        return b"".join(seen)

    followed = asyncio.run(scenario()).decode().splitlines()
    os.close(descriptor)
    assert followed == [f"row {line}" for line in range(60)]


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


@pytest.mark.parametrize("log_format", list(LogFormat))
def test_lines_written_during_a_request_carry_its_id(
    log_format: LogFormat, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stderr", captured)
    configure_logging(log_format)
    logger = logging.getLogger("servegate.test")

    async def handle() -> None:
        request_ids.begin("req-42")
        logger.info("inside")
        await asyncio.to_thread(logger.info, "in a worker thread")

    logger.info("outside")
    asyncio.run(handle())
    lines = captured.getvalue().splitlines()
    if log_format is LogFormat.JSON:
        parsed = [json.loads(line) for line in lines]
        assert [line.get("request_id") for line in parsed] == [None, "req-42", "req-42"]
        assert {line["logger"] for line in parsed} == {"servegate.test"}
    else:
        assert lines[0].endswith("servegate.test: outside")
        assert lines[1].endswith("inside request_id=req-42")
        assert lines[2].endswith("in a worker thread request_id=req-42")


def test_request_ids_are_kept_when_sensible_and_made_up_otherwise() -> None:
    assert request_ids.begin("abc-123") == "abc-123"
    for unusable in (None, "", "with space", "x" * 129, "tab\there", "ünïcode"):
        made = request_ids.begin(unusable)
        assert len(made) == 32 and made != unusable
