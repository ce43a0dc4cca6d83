"""An in-memory ``MessageQueue`` with the semantics of SQS, for tests and single-process runs.

What it shares with SQS (the queue contract suite runs over both):
- a received message is leased: invisible until the lease ends, then delivered again with a
  higher ``receive_count``; a stale receipt (from an earlier lease) acks nothing;
- a message already received ``max_receives`` times is moved to the dead-letter queue instead
  of being delivered again (SQS's redrive policy);
- ``receive`` long-polls and returns as soon as a message is visible;
- ``dead_letter`` moves a message to the DLQ at once, keeping the reason.

``time_scale`` is the length of one queue second in real seconds: tests shrink it so that leases
and delays (whole seconds in the port, as in SQS) expire in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.sqs_protocol import (
    MAX_BATCH,
    MAX_DELAY_S,
    MAX_LEASE_S,
    MAX_WAIT_S,
    DeadLetter,
    check_range,
)
from domain.ports import Clock, ReceivedMessage


@dataclass(slots=True)
class _Entry:
    message_id: str
    body: str
    sent_at: datetime
    visible_at: float
    receive_count: int = 0
    receipt: str | None = None


class InMemoryMessageQueue:
    """One queue plus its dead-letter queue, in memory. Safe within one event loop."""

    def __init__(
        self,
        name: str = "memory",
        *,
        max_receives: int = 3,
        time_scale: float = 1.0,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_receives < 1:
            raise ValueError("max_receives must be at least 1")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.name = name
        self.max_receives = max_receives
        self._scale = time_scale
        self._clock = clock
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}  # insertion order approximates SQS's rough FIFO
        self._dead: list[DeadLetter] = []
        self._wakeup = asyncio.Event()
        self._receipts = itertools.count(1)

    # --- the port -------------------------------------------------------------------------

    async def send(self, body: str, delay_s: int = 0) -> str:
        check_range("delay_s", delay_s, 0, MAX_DELAY_S)
        message_id = str(uuid.uuid4())
        self._entries[message_id] = _Entry(
            message_id=message_id,
            body=body,
            sent_at=self._wall_now(),
            visible_at=self._at(delay_s),
        )
        self._notify()
        return message_id

    async def receive(
        self, max_messages: int, wait_s: float, lease_s: int
    ) -> list[ReceivedMessage]:
        check_range("max_messages", max_messages, 1, MAX_BATCH)
        check_range("wait_s", wait_s, 0, MAX_WAIT_S)
        check_range("lease_s", lease_s, 0, MAX_LEASE_S)
        deadline = time.monotonic() + wait_s
        while True:
            batch = self._lease(max_messages, lease_s)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            await self._sleep_until_change(remaining)

    async def extend(self, message: ReceivedMessage, lease_s: int) -> None:
        check_range("lease_s", lease_s, 0, MAX_LEASE_S)
        entry = self._current(message, in_flight=True)
        if entry is not None:
            entry.visible_at = self._at(lease_s)

    async def ack(self, message: ReceivedMessage) -> None:
        if self._current(message, in_flight=False) is not None:
            del self._entries[message.message_id]

    async def release(self, message: ReceivedMessage, delay_s: int = 0) -> None:
        check_range("delay_s", delay_s, 0, MAX_LEASE_S)
        entry = self._current(message, in_flight=True)
        if entry is not None:
            entry.visible_at = self._at(delay_s)
            if delay_s == 0:
                self._notify()

    async def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        entry = self._current(message, in_flight=False)
        if entry is not None:
            self._move_to_dlq(entry, reason)

    async def depth(self) -> dict[str, int]:
        self._redrive_exhausted()
        now = self._monotonic()
        visible = in_flight = delayed = 0
        for entry in self._entries.values():
            if entry.visible_at <= now:
                visible += 1
            elif entry.receive_count:
                in_flight += 1
            else:
                delayed += 1
        return {
            "visible": visible,
            "in_flight": in_flight,
            "delayed": delayed,
            "dead_lettered": len(self._dead),
        }

    async def ping(self) -> None:
        return None

    # --- beyond the port: inspection for operators and tests ------------------------------

    async def dead_letters(self, max_messages: int = MAX_BATCH) -> list[DeadLetter]:
        """Look at (without removing) up to ``max_messages`` dead letters, oldest first."""
        self._redrive_exhausted()
        return self._dead[:max_messages]

    # --- internals ------------------------------------------------------------------------

    def _lease(self, max_messages: int, lease_s: int) -> list[ReceivedMessage]:
        self._redrive_exhausted()
        now = self._monotonic()
        batch: list[ReceivedMessage] = []
        for entry in list(self._entries.values()):
            if len(batch) == max_messages:
                break
            if entry.visible_at > now:
                continue
            entry.receive_count += 1
            entry.receipt = f"{entry.message_id}:{next(self._receipts)}"
            entry.visible_at = self._at(lease_s)
            batch.append(
                ReceivedMessage(
                    message_id=entry.message_id,
                    body=entry.body,
                    receipt=entry.receipt,
                    receive_count=entry.receive_count,
                    sent_at=entry.sent_at,
                )
            )
        return batch

    def _redrive_exhausted(self) -> None:
        # SQS moves a message to the DLQ when it would be received once more than allowed;
        # doing it as soon as it becomes visible is indistinguishable to consumers.
        now = self._monotonic()
        for entry in list(self._entries.values()):
            if entry.visible_at <= now and entry.receive_count >= self.max_receives:
                self._move_to_dlq(entry, None)

    def _move_to_dlq(self, entry: _Entry, reason: str | None) -> None:
        del self._entries[entry.message_id]
        self._dead.append(
            DeadLetter(
                message_id=entry.message_id,
                body=entry.body,
                reason=reason,
                receive_count=entry.receive_count,
                source_queue=self.name,
            )
        )

    def _current(self, message: ReceivedMessage, *, in_flight: bool) -> _Entry | None:
        """The entry if ``message`` is its latest delivery. As in SQS, a receipt from an earlier
        delivery acts on nothing, and changing the visibility needs the lease to be running."""
        entry = self._entries.get(message.message_id)
        if entry is None or entry.receipt != message.receipt:
            return None
        if in_flight and entry.visible_at <= self._monotonic():
            return None
        return entry

    async def _sleep_until_change(self, remaining: float) -> None:
        # Wake on a send/release, or when the next delayed or leased message becomes visible.
        now = self._monotonic()
        upcoming = [e.visible_at - now for e in self._entries.values() if e.visible_at > now]
        timeout = min([remaining, *upcoming])
        wakeup = self._wakeup
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), timeout=max(timeout, 0.001))

    def _notify(self) -> None:
        # Replace the event before setting it so every current waiter wakes exactly once.
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    def _at(self, seconds: float) -> float:
        return self._monotonic() + seconds * self._scale

    def _wall_now(self) -> datetime:
        return self._clock.now() if self._clock is not None else datetime.now(UTC)
