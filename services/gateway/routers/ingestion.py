"""Ingest commands (the same bodies EventBridge posts), ingestion runs and data freshness:
thin edges over the ingestion use cases."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from domain.errors import QueueUnavailable
from domain.usecases.ingest_commands import SendIngestCommandRequest
from domain.usecases.runs import ListRunsRequest
from gateway.deps import Metrics, UseCases
from gateway.problems import problem_docs
from gateway.schemas import FreshnessOut, IngestAccepted, ListOf, ModelResponse, RunOut
from gateway.security import Reader, Writer

router = APIRouter(prefix="/v1/ingestion", tags=["ingestion"])

COMMAND_EXAMPLES = {
    "update_prices": {
        "summary": "Update US prices",
        "value": {"type": "update_prices", "market": "US", "tickers": ["SPY", "QQQ"]},
    },
    "update_macro": {
        "summary": "Update FRED series",
        "value": {"type": "update_macro", "series": ["CPIAUCSL"]},
    },
}
COMMAND_SCHEMA = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["update_prices", "update_macro"]},
        "market": {"type": "string", "enum": ["US", "KR"]},
        "tickers": {"type": "array", "items": {"type": "string"}},
        "series": {"type": "array", "items": {"type": "string"}},
        "start": {"type": "string", "format": "date"},
        "full_refresh": {"type": "boolean"},
        "command_id": {"type": "string"},
        "dry_run": {"type": "boolean"},
    },
    "description": "An ingest command of design §3 (validated by the shared message contracts).",
}


@router.post(
    "/commands",
    status_code=202,
    summary="Send an ingest command to the ingest queue",
    response_model=IngestAccepted,
    responses=problem_docs(401, 413, 422, 503),
)
async def send_command(
    use_cases: UseCases,
    metrics: Metrics,
    _: Writer,
    body: Annotated[
        dict[str, Any],
        Body(
            openapi_examples=COMMAND_EXAMPLES,
            json_schema_extra=COMMAND_SCHEMA,
        ),
    ],
) -> ModelResponse:
    try:
        sent = await use_cases.send_ingest_command(SendIngestCommandRequest(body=body))
    except QueueUnavailable:
        metrics.queue_send_errors.labels(use_cases.send_ingest_command.queue_name).inc()
        raise
    metrics.ingest_commands.labels(sent.command.type).inc()
    return ModelResponse(IngestAccepted.of(sent), status_code=202)


@router.get(
    "/runs",
    summary="Ingestion runs, newest first",
    response_model=ListOf[RunOut],
    responses=problem_docs(401, 422, 503),
)
async def runs(
    use_cases: UseCases,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    parent_id: uuid.UUID | None = None,
) -> ModelResponse:
    page = await use_cases.list_runs(
        ListRunsRequest(limit=limit, cursor=cursor, parent_id=parent_id)
    )
    return ModelResponse(
        ListOf[RunOut](items=[RunOut.of(r) for r in page.items], next_cursor=page.next_cursor)
    )


@router.get(
    "/freshness",
    summary="Last stored session per market vs the exchange calendar",
    response_model=FreshnessOut,
    responses=problem_docs(401, 503),
)
async def freshness(use_cases: UseCases, _: Reader) -> ModelResponse:
    return ModelResponse(FreshnessOut.of(await use_cases.get_freshness()))
