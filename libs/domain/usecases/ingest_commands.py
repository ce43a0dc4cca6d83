"""Ingest commands sent on behalf of a client (the same bodies EventBridge posts).

Business rules:

- A command is validated by the shared message contracts before it is queued.
- A command without ``command_id`` gets a fresh one, so the caller can find the run the
  ingestor records for it.
- A queue that cannot take the command now is QueueUnavailable: nothing is recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from domain.messages import UpdateMacro, UpdatePrices, encode_message, parse_ingest_command
from domain.ports import MessageQueue


@dataclass(frozen=True, slots=True, kw_only=True)
class SendIngestCommandRequest:
    body: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SentIngestCommand:
    message_id: str
    command: UpdatePrices | UpdateMacro


class SendIngestCommand:
    """Validate an ingest command and send it to the ingest queue."""

    def __init__(self, *, queue: MessageQueue) -> None:
        self._queue = queue

    @property
    def queue_name(self) -> str:
        return self._queue.name

    async def __call__(self, request: SendIngestCommandRequest) -> SentIngestCommand:
        body = {"command_id": str(uuid.uuid4()), **request.body}
        command = parse_ingest_command(body)
        message_id = await self._queue.send(encode_message(command))
        return SentIngestCommand(message_id=message_id, command=command)
