"""Ingest commands (the same bodies EventBridge posts), ingestion runs and data freshness."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from domain.errors import QueueUnavailable
from domain.freshness import market_freshness
from domain.messages import encode_message, parse_ingest_command
from domain.model import Market
from gateway.deps import Container, Metrics
from gateway.problems import problem_docs
from gateway.schemas import FastJSONResponse, FreshnessOut, IngestAccepted, ListOf, RunOut, run_out
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
    container: Container,
    metrics: Metrics,
    _: Writer,
    body: Annotated[
        dict[str, Any],
        Body(
            openapi_examples=COMMAND_EXAMPLES,
            json_schema_extra=COMMAND_SCHEMA,
        ),
    ],
) -> FastJSONResponse:
    # A command_id lets the caller find the run the ingestor records for it.
    body.setdefault("command_id", str(uuid.uuid4()))
    command = parse_ingest_command(body)
    encoded = encode_message(command)
    try:
        message_id = await container.ingest_queue.send(encoded)
    except QueueUnavailable:
        metrics.queue_send_errors.labels(container.ingest_queue.name).inc()
        raise
    metrics.ingest_commands.labels(command.type).inc()
    return FastJSONResponse(
        {"message_id": message_id, "command": command.model_dump(mode="json", exclude_none=True)},
        status_code=202,
    )


@router.get(
    "/runs",
    summary="Ingestion runs, newest first",
    response_model=ListOf[RunOut],
    responses=problem_docs(401, 422, 503),
)
async def runs(
    container: Container,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    parent_id: uuid.UUID | None = None,
) -> FastJSONResponse:
    page = await container.repositories.runs.list(limit, cursor, parent_id)
    return FastJSONResponse(
        {"items": [run_out(r) for r in page.items], "next_cursor": page.next_cursor}
    )


@router.get(
    "/freshness",
    summary="Last stored session per market vs the exchange calendar",
    response_model=FreshnessOut,
    responses=problem_docs(401, 503),
)
async def freshness(container: Container, _: Reader) -> FastJSONResponse:
    now = container.clock.now()
    markets = [await _market_freshness(container, market, now) for market in Market]
    macro = await container.repositories.macro.last_dates()
    return FastJSONResponse(
        {
            "checked_at": now.isoformat(),
            "markets": markets,
            "macro": {code: d.isoformat() for code, d in sorted(macro.items())},
        }
    )


async def _market_freshness(container: Container, market: Market, now: datetime) -> dict[str, Any]:
    assets = await container.repositories.assets.by_market(market)
    ids = [a.id for a in assets if a.id is not None]
    last = await container.repositories.prices.last_dates(ids) if ids else {}
    stored: date | None = max(last.values()) if last else None
    if container.calendar is None:  # no calendar configured: report what is stored only
        return {
            "market": market.value,
            "last_stored_session": _iso(stored),
            "last_completed_session": None,
            "sessions_behind": None,
            "stale": stored is None,
        }
    fresh = market_freshness(market, stored, container.calendar, now)
    return {
        "market": market.value,
        "last_stored_session": _iso(fresh.last_stored_session),
        "last_completed_session": _iso(fresh.last_completed_session),
        "sessions_behind": fresh.sessions_behind,
        "stale": fresh.stale,
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
