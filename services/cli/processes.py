"""Long-running processes: the gateway (uvicorn) and the two queue workers.

A worker exits 0 when stopped by SIGTERM/SIGINT, and ``EXIT_RESTART_REQUIRED`` when a
dependency refused what the process was started with (the database password rotated since the
task read its secret): ECS then starts a fresh task, which reads the current secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from adapters.settings import GatewaySettings, LoggingSettings, WorkerRuntimeSettings
from adapters.worker import Worker, WorkerSettings, configure_json_logging
from domain.errors import RestartRequired

log = logging.getLogger("insight_invest")
T = TypeVar("T")
# sysexits' EX_TEMPFAIL: a temporary failure, worth running again (as a fresh process).
EXIT_RESTART_REQUIRED = 75


def serve_gateway(host: str | None, port: int | None, workers: int | None) -> int:
    import uvicorn

    configure_json_logging(LoggingSettings().log_level)
    settings = GatewaySettings()
    # uvicorn drains connections on SIGTERM/SIGINT and then re-raises the signal through the
    # handler that was installed before it started (cli.main's, before any import): exit 0.
    uvicorn.run(
        "gateway.app:create_app_from_env",
        factory=True,
        host=host or settings.gateway_host,
        port=port or settings.gateway_port,
        workers=workers or settings.gateway_workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
    return 0


def worker_settings(runtime: WorkerRuntimeSettings) -> WorkerSettings:
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


async def serve_ingestor() -> int:
    from ingestor.bootstrap import build_ingestor
    from ingestor.handlers import build_handlers, maintain_runs

    configure_json_logging(LoggingSettings().log_level)
    stop = _stop_on_signals()
    async with _open_unless_stopped(build_ingestor(), stop) as container:
        if container is None:
            return 0
        worker = Worker(
            container.queue, build_handlers(container), worker_settings(container.settings.worker)
        )
        return await _run_with_stop(worker, stop, maintenance=lambda: maintain_runs(container))


async def serve_backtester() -> int:
    from backtester.bootstrap import build_backtester
    from backtester.handlers import build_handlers, requeue_stale_jobs

    configure_json_logging(LoggingSettings().log_level)
    stop = _stop_on_signals()
    async with _open_unless_stopped(build_backtester(), stop) as container:
        if container is None:
            return 0
        worker = Worker(
            container.queue, build_handlers(container), worker_settings(container.settings.worker)
        )
        return await _run_with_stop(
            worker,
            stop,
            maintenance=lambda: requeue_stale_jobs(container),
            every_s=container.settings.jobs.job_sweep_every_seconds,
        )


def _stop_on_signals() -> asyncio.Event:
    """Route SIGTERM/SIGINT to an event before anything is opened, so a task that ECS stops
    while it is still starting (waiting on the database or the queue) exits 0 too."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


@contextlib.asynccontextmanager
async def _open_unless_stopped(
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


async def _run_with_stop(
    worker: Worker,
    stop: asyncio.Event,
    *,
    maintenance: Callable[[], Awaitable[None]],
    every_s: float = 30.0,
) -> int:
    """Run the worker until ``stop`` (SIGTERM/SIGINT); a periodic maintenance task runs beside
    it. Return the exit code: 0, or ``EXIT_RESTART_REQUIRED`` when either of them met a
    ``RestartRequired`` error (the worker has drained and released its messages by then)."""
    restart: list[RestartRequired] = []

    async def periodically() -> None:
        while not stop.is_set():
            try:
                await maintenance()
            except RestartRequired as exc:
                restart.append(exc)
                stop.set()  # the worker drains and returns
                return
            except Exception:  # any other failure must not take the worker down
                log.warning("maintenance failed; will retry", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

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
