"""The worker as a process against SQS (moto): crash and shutdown keep at-least-once delivery.

(a) SIGKILL mid-message: the lease runs out, SQS redelivers, the effect happens exactly once.
(b) SIGTERM mid-message: the process exits 0 and the message is either finished or released
    for the next worker, never lost.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from adapters.sqs import SqsConnection, SqsMessageQueue
from domain.messages import RunBacktest, encode_message
from tests.integration.worker.worker_app import connect

pytestmark = pytest.mark.sqs

REPO = Path(__file__).resolve().parents[3]
LEASE_S = 2
# Bounds that only a broken worker reaches (process start-up imports pandas and aioboto3).
LIMIT_S = 60.0


@pytest.fixture
async def queue(sqs_endpoint: str) -> AsyncIterator[SqsMessageQueue]:
    name = f"proc-{uuid.uuid4().hex[:12]}"
    async with SqsConnection(sqs_endpoint, "us-east-1") as connection:
        created = await connection.queue(name, create=True, max_receives=3, lease_s=LEASE_S)
        yield created
        for queue_name in (name, name + "-dlq"):
            url = (await connection.client.get_queue_url(QueueName=queue_name))["QueueUrl"]
            await connection.client.delete_queue(QueueUrl=url)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "effects.sqlite"
    connect(path).close()
    return path


@pytest.fixture
def start_worker(
    sqs_endpoint: str, queue: SqsMessageQueue, db: Path, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        command = [
            sys.executable, "-m", "tests.integration.worker.worker_app",
            "--endpoint", sqs_endpoint, "--queue", queue.name, "--db", str(db),
            "--lease", str(LEASE_S), *extra,
        ]  # fmt: skip
        process = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=log, stderr=log)
        started.append(process)
        return process

    yield start
    for process in started:  # only the processes this test started
        if process.poll() is None:
            process.kill()
            process.wait()


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql).fetchall()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


async def send_job(queue: SqsMessageQueue) -> str:
    job_id = str(uuid.uuid4())
    await queue.send(encode_message(RunBacktest(job_id=uuid.UUID(job_id))))
    return job_id


async def queue_empty(queue: SqsMessageQueue) -> bool:
    depth = await queue.depth()
    return depth["visible"] + depth["in_flight"] + depth["delayed"] + depth["dead_lettered"] == 0


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=LIMIT_S)


async def test_killed_worker_message_is_redelivered_and_applied_exactly_once(
    queue: SqsMessageQueue, db: Path, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    job_id = await send_job(queue)
    doomed = start_worker("--first-sleep", "120")
    wait_for(lambda: bool(rows(db, "SELECT 1 FROM deliveries")), "the first delivery")

    doomed.kill()  # SIGKILL: no chance to release or ack
    doomed.wait()
    survivor = start_worker()
    wait_for(lambda: bool(rows(db, "SELECT 1 FROM effects")), "the redelivered message's effect")
    wait_for_async_empty = await _eventually_empty(queue)
    assert stop(survivor) == 0

    assert wait_for_async_empty
    counts = rows(db, "SELECT receive_count, pid FROM deliveries ORDER BY receive_count")
    assert [c for c, _ in counts] == [1, 2]
    assert counts[1][1] == survivor.pid
    assert rows(db, "SELECT job_id, pid FROM effects") == [(job_id, survivor.pid)]


async def test_sigterm_finishes_the_in_flight_message_and_exits_zero(
    queue: SqsMessageQueue, db: Path, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    job_id = await send_job(queue)
    worker = start_worker("--first-sleep", "1.5", "--grace", "20")
    wait_for(lambda: bool(rows(db, "SELECT 1 FROM deliveries")), "the delivery")

    assert stop(worker) == 0

    assert rows(db, "SELECT job_id FROM effects") == [(job_id,)]
    assert await _eventually_empty(queue)


async def test_sigterm_past_the_grace_releases_the_message_for_the_next_worker(
    queue: SqsMessageQueue, db: Path, start_worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    job_id = await send_job(queue)
    first = start_worker("--first-sleep", "120", "--grace", "0.5")
    wait_for(lambda: bool(rows(db, "SELECT 1 FROM deliveries")), "the first delivery")

    assert stop(first) == 0
    assert rows(db, "SELECT 1 FROM effects") == []

    second = start_worker()
    wait_for(lambda: bool(rows(db, "SELECT 1 FROM effects")), "the released message's effect")
    assert await _eventually_empty(queue)
    assert stop(second) == 0
    assert rows(db, "SELECT job_id, pid FROM effects") == [(job_id, second.pid)]
    assert [c for (c,) in rows(db, "SELECT receive_count FROM deliveries")] == [1, 2]


async def _eventually_empty(queue: SqsMessageQueue) -> bool:
    # The ack follows the effect by a moment; poll the queue until it is settled.
    import asyncio

    deadline = time.monotonic() + LIMIT_S
    while not await queue_empty(queue):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True
