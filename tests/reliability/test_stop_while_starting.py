"""ECS may stop a task that is still starting (a deployment rolls on, a scale-in): SIGTERM then
must end the worker with exit 0 and nothing left open, not kill it by the signal (exit -15),
which ECS records as a failed task and our alarms count.

The queue endpoint here accepts connections and never answers, so the worker is reliably caught
inside its start-up, after the database is open and before the worker loop runs.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.processes import ServiceStack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(300)]


@pytest.fixture
async def silent_endpoint() -> AsyncIterator[str]:
    """A TCP server on loopback that reads requests and never answers them."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()


async def wait_for_log(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        assert process.poll() is None, path.read_text(errors="replace")[-3000:]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {text!r} in {path}:\n{path.read_text(errors='replace')[-3000:]}")


@pytest.mark.parametrize("service", ["backtester", "ingestor"])
async def test_sigterm_while_waiting_on_the_queue_endpoint_exits_zero(
    service: str, postgres_url: str, silent_endpoint: str, tmp_path: Path
) -> None:
    stack = ServiceStack(postgres_url, silent_endpoint, tmp_path)
    log_path = tmp_path / f"{service}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", service], env=stack.env, stdout=log, stderr=log
        )
    try:
        # The client is open and its first call (the queue lookup) is waiting on the endpoint.
        await wait_for_log(log_path, '"sqs client opened"', process)
        await asyncio.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    logs = log_path.read_text(errors="replace")
    assert code == 0, f"{service} exited {code}:\n{logs[-3000:]}"
    assert '"stopped while starting"' in logs
    assert '"worker started"' not in logs
    assert "Traceback" not in logs
