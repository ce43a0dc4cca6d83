"""The worker runtime against SQS's own semantics (moto on loopback), not only the fake queue.

The unit tests pin the runtime's decisions on the in-memory queue; here the same two dead-letter
paths run through SqsMessageQueue, so SQS's redrive policy and its message attributes are what
decide: a body that does not validate is dead-lettered by the worker after one receive with the
reason, and a handler that keeps failing has its message moved by SQS after three receives.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from adapters.sqs import SqsConnection, SqsMessageQueue
from adapters.worker import MessageContext, Worker, WorkerSettings
from domain.errors import ProviderUnavailable
from domain.messages import RunBacktest, encode_message

pytestmark = pytest.mark.sqs

# A bound only a hung worker reaches; never a timing assertion.
LIMIT_S = 60.0
# Released messages come back at once (no backoff), so three receives take a few polls.
SETTINGS = WorkerSettings(
    concurrency=1,
    wait_s=1,
    lease_s=5,
    inline_retry_s=0,
    retry_base_s=0,
    retry_max_s=0,
    shutdown_grace_s=5,
)


@pytest.fixture
async def queue(sqs_endpoint: str) -> AsyncIterator[SqsMessageQueue]:
    name = f"worker-sqs-{uuid.uuid4().hex[:12]}"
    async with SqsConnection(sqs_endpoint, "us-east-1") as connection:
        created = await connection.queue(name, create=True, max_receives=3, lease_s=5)
        try:
            yield created
        finally:
            for queue_name in (name, name + "-dlq"):
                url = (await connection.client.get_queue_url(QueueName=queue_name))["QueueUrl"]
                await connection.client.delete_queue(QueueUrl=url)


async def run_until(worker: Worker, done: Callable[[], Awaitable[bool]]) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(LIMIT_S):
            while not await done():
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=LIMIT_S)


def dead_lettered(queue: SqsMessageQueue) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        depth = await queue.depth()
        return depth["dead_lettered"] >= 1 and depth["visible"] + depth["in_flight"] == 0

    return check


async def test_a_body_that_does_not_validate_is_dead_lettered_after_one_receive_with_the_reason(
    queue: SqsMessageQueue,
) -> None:
    handled: list[int] = []

    async def run_backtest(_: RunBacktest, context: MessageContext) -> None:
        handled.append(context.receive_count)

    await queue.send('{"type": "run_backtest", "job_id": "not-a-uuid"}')
    worker = Worker(queue, {"run_backtest": run_backtest}, SETTINGS)

    await run_until(worker, dead_lettered(queue))

    assert handled == []
    [dead] = await queue.dead_letters()
    assert dead.body == '{"type": "run_backtest", "job_id": "not-a-uuid"}'
    assert dead.reason is not None and "job_id" in dead.reason


async def test_a_handler_that_keeps_failing_ends_in_the_dlq_after_three_receives(
    queue: SqsMessageQueue,
) -> None:
    deliveries: list[int] = []

    async def provider_down(_: RunBacktest, context: MessageContext) -> None:
        deliveries.append(context.receive_count)
        raise ProviderUnavailable("yahoo answered 503")

    body = encode_message(RunBacktest(job_id=uuid.uuid4()))
    await queue.send(body)
    worker = Worker(queue, {"run_backtest": provider_down}, SETTINGS)

    await run_until(worker, dead_lettered(queue))

    assert deliveries == [1, 2, 3]
    [dead] = await queue.dead_letters()
    assert dead.body == body
    assert dead.reason is None  # moved by SQS's redrive policy, not by the worker
