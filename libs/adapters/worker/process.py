"""A queue worker as an operating-system process: the plumbing the ingestor and the backtester
share around their ``Worker``.

- SIGTERM/SIGINT stop the process at any moment, also while it is still opening its adapters;
  it then exits 0 (ECS counts any other exit of a stopped task as a failure).
- A periodic maintenance task runs beside the worker; its failures are logged and retried.
- ``RestartRequired`` (a dependency refused the credentials the process started with: the
  database password rotated since the task read its secret) ends the process with
  ``EXIT_RESTART_REQUIRED`` once the worker has drained, so ECS starts a fresh task, which reads
  the current secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from adapters.settings import WorkerRuntimeSettings
from adapters.worker.runtime import Worker, WorkerSettings
from domain.errors import RestartRequired

log = logging.getLogger("insight_invest")

# sysexits' EX_TEMPFAIL: a temporary failure, worth running again (as a fresh process).
EXIT_RESTART_REQUIRED = 75

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Maintenance:
    """Work a worker process does beside its queue, every ``every_s`` seconds."""

    run: Callable[[], Awaitable[object]]
    every_s: float = 30.0


class WorkerProcess(Protocol):
    """What a worker service's composition root yields: its worker and its maintenance."""

    @property
    def worker(self) -> Worker: ...

    @property
    def maintenance(self) -> Maintenance: ...


def worker_settings(runtime: WorkerRuntimeSettings) -> WorkerSettings:
    """The runtime's settings from the environment's (WORKER_*, HANDLER_TIMEOUT_SECONDS, ...)."""
    return WorkerSettings(
        concurrency=runtime.worker_concurrency,
        wait_s=runtime.worker_wait_seconds,
        lease_s=runtime.worker_lease_seconds,
        handler_timeout_s=runtime.handler_timeout_seconds,
        shutdown_grace_s=runtime.shutdown_grace_seconds,
        inline_retry_s=runtime.worker_inline_retry_seconds,
        retry_base_s=runtime.worker_retry_base_seconds,
        retry_max_s=runtime.worker_retry_max_seconds,
    )


async def serve_worker(opener: contextlib.AbstractAsyncContextManager[WorkerProcess]) -> int:
    """Open a worker process's adapters (``opener``: a service's composition root), run its
    worker and maintenance until SIGTERM/SIGINT, close everything, and return the exit code."""
    stop = stop_on_signals()
    async with open_unless_stopped(opener, stop) as process:
        if process is None:
            return 0
        return await run_with_maintenance(process.worker, stop, process.maintenance)


def stop_on_signals() -> asyncio.Event:
    """Route SIGTERM/SIGINT to an event before anything is opened, so a task that ECS stops
    while it is still starting (waiting on the database or the queue) exits 0 too."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


@contextlib.asynccontextmanager
async def open_unless_stopped(
    opener: contextlib.AbstractAsyncContextManager[T], stop: asyncio.Event
) -> AsyncIterator[T | None]:
    """Enter ``opener`` unless ``stop`` is set first; then yield None, having closed whatever
    was half-opened (cancellation unwinds the opener's own exit stack)."""
    async with contextlib.AsyncExitStack() as stack:
        opening = asyncio.ensure_future(stack.enter_async_context(opener))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({opening, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not opening.done():
            opening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await opening
            log.info("stopped while starting")
            yield None
            return
        yield opening.result()


async def run_with_maintenance(
    worker: Worker, stop: asyncio.Event, maintenance: Maintenance
) -> int:
    """Run the worker until ``stop`` (SIGTERM/SIGINT) with ``maintenance`` beside it. Return the
    exit code: 0, or ``EXIT_RESTART_REQUIRED`` when either of them met a ``RestartRequired``
    error (the worker has drained and released its messages by then)."""
    restart: list[RestartRequired] = []

    async def periodically() -> None:
        while not stop.is_set():
            try:
                await maintenance.run()
            except RestartRequired as exc:
                restart.append(exc)
                stop.set()  # the worker drains and returns
                return
            except Exception:  # any other failure must not take the worker down
                log.warning("maintenance failed; will retry", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=maintenance.every_s)

    background = asyncio.create_task(periodically())
    try:
        await worker.run(stop)
    except RestartRequired as exc:
        restart.append(exc)
    finally:
        stop.set()
        await background
    if restart:
        # The reason is a domain error's own text: no host, user or secret.
        log.error(
            "exiting so that a fresh process starts with current credentials",
            extra={"reason": str(restart[0]), "exit_code": EXIT_RESTART_REQUIRED},
        )
        return EXIT_RESTART_REQUIRED
    return 0
