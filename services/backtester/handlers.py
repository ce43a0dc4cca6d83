"""Message handlers of the backtester, registered by message type, and its job sweep."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from adapters.worker import Handler
from domain.messages import RunBacktest
from domain.usecases.backtests import RequeueStaleJobs
from domain.usecases.run_backtest import RunBacktestJob

log = logging.getLogger("backtester")


def build_handlers(*, run_job: RunBacktestJob) -> Mapping[str, Handler]:
    async def run_backtest(message: RunBacktest, context: Any) -> None:
        status = await run_job(message.job_id)
        log.info(
            "run_backtest handled",
            extra={"job_id": str(message.job_id), "status": str(status) if status else "skipped"},
        )

    return {"run_backtest": run_backtest}


async def sweep_jobs(requeue_stale_jobs: RequeueStaleJobs) -> None:
    """The sweeper that ties job rows to queue messages: a job the gateway stored but could not
    enqueue (queue down) is enqueued here, so no job stays queued forever."""
    report = await requeue_stale_jobs()
    if report.requeued or report.failed or report.send_errors:
        log.info(
            "job sweep",
            extra={
                "requeued": len(report.requeued),
                "failed": len(report.failed),
                "send_errors": report.send_errors,
            },
        )
