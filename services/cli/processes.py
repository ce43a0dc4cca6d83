"""Long-running processes: the gateway (uvicorn) and the two queue workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from adapters.settings import GatewaySettings, LoggingSettings, WorkerRuntimeSettings
from adapters.worker import Worker, WorkerSettings, configure_json_logging

log = logging.getLogger("insight_invest")


def serve_gateway(host: str | None, port: int | None, workers: int) -> int:
    import uvicorn

    configure_json_logging(LoggingSettings().log_level)
    settings = GatewaySettings()
    # uvicorn drains connections on SIGTERM/SIGINT and then re-raises the signal through the
    # handler that was installed before it started: make that a clean exit 0, as the workers do.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.run(
        "gateway.app:create_app_from_env",
        factory=True,
        host=host or settings.gateway_host,
        port=port or settings.gateway_port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


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
    async with build_ingestor() as container:
        worker = Worker(
            container.queue, build_handlers(container), worker_settings(container.settings.worker)
        )
        return await _run_with_stop(worker, maintenance=lambda: maintain_runs(container))


async def serve_backtester() -> int:
    from backtester.bootstrap import build_backtester
    from backtester.handlers import build_handlers, requeue_stale_jobs

    configure_json_logging(LoggingSettings().log_level)
    async with build_backtester() as container:
        worker = Worker(
            container.queue, build_handlers(container), worker_settings(container.settings.worker)
        )
        return await _run_with_stop(
            worker,
            maintenance=lambda: requeue_stale_jobs(container),
            every_s=container.settings.jobs.job_sweep_every_seconds,
        )


async def _run_with_stop(
    worker: Worker, *, maintenance: Callable[[], Awaitable[None]], every_s: float = 30.0
) -> int:
    """Run the worker until SIGTERM/SIGINT; a periodic maintenance task runs beside it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def periodically() -> None:
        while not stop.is_set():
            try:
                await maintenance()
            except Exception:  # maintenance must never take the worker down
                log.warning("maintenance failed; will retry", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    background = asyncio.create_task(periodically())
    try:
        await worker.run(stop)
    finally:
        stop.set()
        await background
    return 0
