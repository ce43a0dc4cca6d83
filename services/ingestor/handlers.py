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
    """Close runs whose worker went away, and close fanned-out parents whose children finished."""
    from datetime import timedelta

    from domain.usecases.runs import MaintainRuns

    timeout = timedelta(seconds=container.settings.worker.handler_timeout_seconds + 60)
    await MaintainRuns(
        runs=container.repositories.runs,
        clock=container.clock,
        abandon_after=timeout,
        telemetry=container.telemetry,
    )()
