"""Message handlers of the ingestor, registered by message type, and its run maintenance."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from adapters.worker import Handler
from domain.messages import UpdateMacro, UpdatePrices
from domain.usecases.ingest_macro import IngestMacro
from domain.usecases.ingest_prices import IngestPrices

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
