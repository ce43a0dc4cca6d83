"""A queue the gateway resolves on first use, so it starts and serves reads while SQS is down."""

from __future__ import annotations

from typing import Any

from domain.errors import QueueUnavailable
from domain.ports import MessageQueue, ReceivedMessage


class LazyQueue:
    """A queue resolved on first use and re-resolved after a failure, so the gateway starts
    (and serves reads) while SQS is down and recovers by itself when it returns."""

    def __init__(self, connection: Any, name: str, *, create: bool, max_receives: int) -> None:
        self.name = name
        self.max_receives = max_receives
        self._connection = connection
        self._create = create
        self._queue: MessageQueue | None = None

    async def _resolved(self) -> MessageQueue:
        if self._queue is None:
            try:
                queue: MessageQueue = await self._connection.queue(
                    self.name, create=self._create, max_receives=self.max_receives
                )
            except QueueUnavailable:
                raise
            except Exception as exc:  # the SDK's own errors must not leak past the adapter edge
                raise QueueUnavailable(f"queue {self.name} unavailable") from exc
            self._queue = queue
        return self._queue

    async def send(self, body: str, delay_s: int = 0) -> str:
        return await (await self._resolved()).send(body, delay_s)

    async def receive(
        self, max_messages: int, wait_s: float, lease_s: int
    ) -> list[ReceivedMessage]:
        return await (await self._resolved()).receive(max_messages, wait_s, lease_s)

    async def extend(self, message: ReceivedMessage, lease_s: int) -> None:
        await (await self._resolved()).extend(message, lease_s)

    async def ack(self, message: ReceivedMessage) -> None:
        await (await self._resolved()).ack(message)

    async def release(self, message: ReceivedMessage, delay_s: int = 0) -> None:
        await (await self._resolved()).release(message, delay_s)

    async def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        await (await self._resolved()).dead_letter(message, reason)

    async def depth(self) -> dict[str, int]:
        return await (await self._resolved()).depth()

    async def ping(self) -> None:
        await (await self._resolved()).ping()
