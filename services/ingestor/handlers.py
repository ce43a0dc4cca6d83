"""Message handlers of the ingestor, registered by message type, and its run maintenance."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from adapters.worker import Handler
from domain.messages import UpdateMacro, UpdatePrices
from domain.model import RunStatus
from domain.ports import Clock, IngestionRunRepository, Telemetry
from domain.usecases.ingest_macro import IngestMacro
from domain.usecases.ingest_prices import IngestPrices
from domain.usecases.runs import aggregate_parent

log = logging.getLogger("ingestor")

# A redelivered message resumes the same run record rather than leaving a second one behind.
_RUN_NAMESPACE = uuid.UUID("5b0f8a52-6f0e-4c1b-9a57-3c1e6a3f0d11")


def run_id_for(message_id: str) -> uuid.UUID:
    return uuid.uuid5(_RUN_NAMESPACE, message_id)


def build_handlers(
    *, ingest_prices: IngestPrices, ingest_macro: IngestMacro
) -> Mapping[str, Handler]:
    async def update_prices(message: UpdatePrices, context: Any) -> None:
        run = await ingest_prices(message, run_id=run_id_for(context.message_id))
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
        run = await ingest_macro(message, run_id=run_id_for(context.message_id))
        log.info(
            "update_macro finished",
            extra={"run_id": str(run.id), "status": str(run.status), "counts": run.counts},
        )

    return {"update_prices": update_prices, "update_macro": update_macro}


async def maintain_runs(
    runs: IngestionRunRepository,
    clock: Clock,
    telemetry: Telemetry | None,
    *,
    abandon_after: timedelta,
) -> None:
    """Close runs whose worker went away (silent for ``abandon_after``), and close fanned-out
    parents whose children finished (a child's own aggregation can miss a sibling that
    committed at the same moment)."""
    now = clock.now()
    abandoned = await runs.abandon_stale(now - abandon_after, now)
    if abandoned:
        log.warning("closed abandoned ingestion runs", extra={"count": abandoned})
    page = await runs.list(limit=100, cursor=None)
    for run in page.items:
        if run.status is RunStatus.RUNNING and "children" in run.counts:
            await aggregate_parent(runs, run.id, clock, telemetry)
