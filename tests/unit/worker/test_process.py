"""A worker process around its worker: a stop while opening closes what was half-opened, the
maintenance task survives its own failures, and a refused credential ends the process with the
exit code that asks for a fresh one."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from adapters.memory.queue import InMemoryMessageQueue
from adapters.worker import EXIT_RESTART_REQUIRED, Maintenance, Worker, WorkerSettings
from adapters.worker.process import open_unless_stopped, run_with_maintenance
from domain.errors import StorageCredentialsRejected
from domain.messages import RunBacktest, encode_message

# A bound that only a hung process reaches; never a timing assertion.
LIMIT_S = 10.0


def idle_worker(handlers: dict | None = None) -> Worker:
    settings = WorkerSettings(wait_s=0.05, retry_base_s=0, retry_max_s=0, shutdown_grace_s=1.0)
    return Worker(InMemoryMessageQueue("process"), handlers or {}, settings)


async def test_a_stop_while_opening_yields_nothing_and_closes_what_was_opened(
    caplog: pytest.LogCaptureFixture,
) -> None:
    opened, closed = asyncio.Event(), asyncio.Event()

    @asynccontextmanager
    async def hanging_opener() -> AsyncIterator[str]:
        opened.set()
        try:
            await asyncio.Event().wait()  # a queue endpoint that never answers
            yield "never"
        finally:
            closed.set()

    stop = asyncio.Event()
    caplog.set_level(logging.INFO)

    async def stop_once_opening() -> None:
        await opened.wait()
        stop.set()

    stopper = asyncio.create_task(stop_once_opening())
    async with asyncio.timeout(LIMIT_S):
        async with open_unless_stopped(hanging_opener(), stop) as process:
            assert process is None
    await stopper
    assert closed.is_set()
    assert "stopped while starting" in caplog.text


async def test_an_opened_process_is_yielded_and_closed_on_exit() -> None:
    closed = False

    @asynccontextmanager
    async def opener() -> AsyncIterator[str]:
        nonlocal closed
        yield "process"
        closed = True

    async with open_unless_stopped(opener(), asyncio.Event()) as process:
        assert process == "process"
    assert closed


async def test_a_stopped_worker_exits_zero_and_maintenance_survives_its_failures() -> None:
    stop = asyncio.Event()
    runs = 0

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("a maintenance hiccup")
        if runs == 3:
            stop.set()

    async with asyncio.timeout(LIMIT_S):
        code = await run_with_maintenance(idle_worker(), stop, Maintenance(run=flaky, every_s=0))

    assert code == 0
    assert runs >= 3


async def test_refused_credentials_in_maintenance_exit_for_a_fresh_process() -> None:
    async def refused() -> None:
        raise StorageCredentialsRejected("database rejected the credentials (28P01)")

    async with asyncio.timeout(LIMIT_S):
        code = await run_with_maintenance(
            idle_worker(), asyncio.Event(), Maintenance(run=refused, every_s=60)
        )

    assert code == EXIT_RESTART_REQUIRED == 75


async def test_refused_credentials_in_a_handler_exit_for_a_fresh_process() -> None:
    async def refused(message: RunBacktest, context: object) -> None:
        raise StorageCredentialsRejected("database rejected the credentials (28P01)")

    worker = idle_worker({"run_backtest": refused})
    await worker.queue.send(encode_message(RunBacktest(job_id=uuid.uuid4())))

    async def nothing() -> None:
        return None

    async with asyncio.timeout(LIMIT_S):
        code = await run_with_maintenance(
            worker, asyncio.Event(), Maintenance(run=nothing, every_s=60)
        )

    assert code == EXIT_RESTART_REQUIRED
