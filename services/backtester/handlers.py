"""Message handlers of the backtester, registered by message type."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from backtester.bootstrap import BacktesterContainer
from domain.messages import RunBacktest

log = logging.getLogger("backtester")


def build_handlers(
    container: BacktesterContainer,
) -> Mapping[str, Callable[[Any, Any], Awaitable[None]]]:
    async def run_backtest(message: RunBacktest, context: Any) -> None:
        status = await container.run_job(message.job_id)
        log.info(
            "run_backtest handled",
            extra={"job_id": str(message.job_id), "status": str(status) if status else "skipped"},
        )

    return {"run_backtest": run_backtest}


async def requeue_stale_jobs(container: BacktesterContainer) -> None:
    """The sweeper that ties job rows to queue messages: a job the gateway stored but could not
    enqueue (queue down) is enqueued here, so no job stays queued forever."""
    from domain.usecases.backtests import RequeueStaleJobs

    jobs = container.settings.jobs
    sweeper = RequeueStaleJobs(
        jobs=container.repositories.jobs,
        queue=container.queue,
        clock=container.clock,
        requeue_after_s=jobs.job_requeue_after_seconds,
        stale_running_after_s=2.0 * container.settings.worker.worker_lease_seconds,
        max_attempts=container.settings.queues.max_receives,
    )
    report = await sweeper()
    if report.requeued or report.failed or report.send_errors:
        log.info(
            "job sweep",
            extra={
                "requeued": len(report.requeued),
                "failed": len(report.failed),
                "send_errors": report.send_errors,
            },
        )
