"""Message contracts (design §3): the SQS bodies shared by producers and consumers.

One discriminated union on ``type``; every body carries ``version`` (default 1). A body that
does not validate is a permanent failure: the worker records it and dead-letters it at once.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, ValidationError

from domain.errors import InvalidMessage
from domain.iso_date import IsoDate
from domain.model import Market, RunTrigger

CONTRACT_VERSION = 1
# SQS refuses bodies over 256 KiB; we refuse them before parsing too.
MAX_BODY_BYTES = 256 * 1024


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1


class _IngestCommand(_Message):
    command_id: str | None = Field(default=None, max_length=200)
    scheduled_at: datetime | None = None
    # Set by the ingestor when it fans a market out into children; absent on scheduled bodies.
    parent_run_id: uuid.UUID | None = None
    trigger: RunTrigger | None = None
    # Strict: lax validation reads "no", "off" and 0 as False and "yes" as True.
    dry_run: StrictBool = False

    def effective_trigger(self) -> RunTrigger:
        if self.trigger is not None:
            return self.trigger
        if self.parent_run_id is not None:
            return RunTrigger.CHILD
        return RunTrigger.SCHEDULE if self.scheduled_at is not None else RunTrigger.MANUAL


class UpdatePrices(_IngestCommand):
    type: Literal["update_prices"] = "update_prices"
    market: Market
    tickers: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(
        default=None, max_length=5000
    )
    start: IsoDate | None = None
    full_refresh: StrictBool = False


class UpdateMacro(_IngestCommand):
    type: Literal["update_macro"] = "update_macro"
    series: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=500
    )
    start: IsoDate | None = None


class RunBacktest(_Message):
    type: Literal["run_backtest"] = "run_backtest"
    job_id: uuid.UUID


Message = Annotated[UpdatePrices | UpdateMacro | RunBacktest, Field(discriminator="type")]
IngestCommand = Annotated[UpdatePrices | UpdateMacro, Field(discriminator="type")]

_MESSAGE_ADAPTER: TypeAdapter[UpdatePrices | UpdateMacro | RunBacktest] = TypeAdapter(Message)
_INGEST_ADAPTER: TypeAdapter[UpdatePrices | UpdateMacro] = TypeAdapter(IngestCommand)


def parse_message(body: str | bytes) -> UpdatePrices | UpdateMacro | RunBacktest:
    """Parse a queue body; raise InvalidMessage with a readable reason when it does not validate."""
    return cast(UpdatePrices | UpdateMacro | RunBacktest, _parse(_MESSAGE_ADAPTER, body))


def parse_ingest_command(body: str | bytes | dict[str, Any]) -> UpdatePrices | UpdateMacro:
    """Parse an ingest command (the bodies EventBridge, the CLI and the API post)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    return cast(UpdatePrices | UpdateMacro, _parse(_INGEST_ADAPTER, body))


def _parse(adapter: TypeAdapter[Any], body: str | bytes) -> Any:
    size = len(body.encode() if isinstance(body, str) else body)
    if size > MAX_BODY_BYTES:
        raise InvalidMessage(f"body of {size} bytes exceeds the {MAX_BODY_BYTES}-byte limit")
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        raise InvalidMessage(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def encode_message(message: UpdatePrices | UpdateMacro | RunBacktest) -> str:
    """The JSON body to put on a queue (unset optional fields left out)."""
    return message.model_dump_json(exclude_none=True)
