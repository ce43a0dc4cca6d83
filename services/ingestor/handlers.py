"""Message handlers of the ingestor, registered by message type."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from domain.messages import UpdateMacro, UpdatePrices
from ingestor.bootstrap import IngestorContainer

log = logging.getLogger("ingestor")

# A redelivered message resumes the same run record rather than leaving a second one behind.
_RUN_NAMESPACE = uuid.UUID("5b0f8a52-6f0e-4c1b-9a57-3c1e6a3f0d11")


def run_id_for(message_id: str) -> uuid.UUID:
    return uuid.uuid5(_RUN_NAMESPACE, message_id)


def build_handlers(
    container: IngestorContainer,
) -> Mapping[str, Callable[[Any, Any], Awaitable[None]]]:
    async def update_prices(message: UpdatePrices, context: Any) -> None:
        run = await container.ingest_prices(message, run_id=run_id_for(context.message_id))
        log.info(
            "update_prices finished",
            extra={
                "run_id": str(run.id),
                "market": str(message.market),
                "status": str(run.status),
                "counts": run.counts,
            },
        )

    async def update_macro(message: UpdateMacro, context: Any) -> None:
        run = await container.ingest_macro(message, run_id=run_id_for(context.message_id))
        log.info(
            "update_macro finished",
            extra={"run_id": str(run.id), "status": str(run.status), "counts": run.counts},
        )

    return {"update_prices": update_prices, "update_macro": update_macro}


async def maintain_runs(container: IngestorContainer) -> None:
    """Close runs whose worker went away, and close fanned-out parents whose children finished
    (a child's own aggregation can miss a sibling that committed at the same moment)."""
    from datetime import timedelta

    from domain.model import RunStatus
    from domain.usecases.runs import aggregate_parent

    runs = container.repositories.runs
    now = container.clock.now()
    timeout = timedelta(seconds=container.settings.worker.handler_timeout_seconds + 60)
    abandoned = await runs.abandon_stale(now - timeout, now)
    if abandoned:
        log.warning("closed abandoned ingestion runs", extra={"count": abandoned})
    page = await runs.list(limit=100, cursor=None)
    for run in page.items:
        if run.status is RunStatus.RUNNING and "children" in run.counts:
            await aggregate_parent(runs, run.id, container.clock, container.telemetry)
