"""One contract suite for every ``MessageQueue``: the in-memory fake and SQS (moto server).

The fake must behave like SQS where consumers can tell the difference: leases, redelivery with
a growing receive count, redrive to the DLQ, long polling, dead-lettering with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Protocol

import pytest

from adapters.memory.queue import InMemoryMessageQueue
from adapters.sqs import SqsConnection, SqsMessageQueue
from adapters.sqs_protocol import DeadLetter
from domain.errors import QueueUnavailable
from domain.ports import MessageQueue

REGION = "us-east-1"
# Enough for moto to answer a long poll under a loaded CI box; the polls themselves ask for 20 s.
EARLY = 10.0


class InspectableQueue(MessageQueue, Protocol):
    async def dead_letters(self, max_messages: int = 10) -> list[DeadLetter]: ...


def unique_name() -> str:
    return f"contract-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["memory", pytest.param("sqs", marks=pytest.mark.sqs)])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    endpoint = request.getfixturevalue("sqs_endpoint") if request.param == "sqs" else None
    return request.param, endpoint


@pytest.fixture
async def queue(backend: tuple[str, str | None]) -> AsyncIterator[InspectableQueue]:
    kind, endpoint = backend
    if kind == "memory":
        # One queue second lasts 0.1 s: leases and delays expire quickly, in the same order.
        yield InMemoryMessageQueue(unique_name(), time_scale=0.1)
        return
    async with SqsConnection(endpoint, REGION) as connection:
        created = await connection.queue(unique_name(), create=True, max_receives=3)
        try:
            yield created
        finally:
            await _delete(connection, created)


async def _delete(connection: SqsConnection, queue: SqsMessageQueue) -> None:
    # Keep the shared moto server shallow: moto slows down as queues fill.
    for name in (queue.name, queue.name + "-dlq"):
        with contextlib.suppress(Exception):
            url = (await connection.client.get_queue_url(QueueName=name))["QueueUrl"]
            await connection.client.delete_queue(QueueUrl=url)


async def test_sent_message_is_received_once_and_gone_after_ack(queue: InspectableQueue) -> None:
    message_id = await queue.send('{"n": 1}')

    [received] = await queue.receive(max_messages=10, wait_s=5, lease_s=30)
    assert (received.message_id, received.body, received.receive_count) == (
        message_id,
        '{"n": 1}',
        1,
    )
    assert received.sent_at is not None and received.sent_at.tzinfo is not None

    await queue.ack(received)
    assert await queue.receive(max_messages=10, wait_s=0, lease_s=30) == []
    assert (await queue.depth())["visible"] == 0


async def test_leased_message_is_hidden_until_the_lease_ends_then_redelivered(
    queue: InspectableQueue,
) -> None:
    await queue.send("lease me")
    [first] = await queue.receive(max_messages=1, wait_s=5, lease_s=1)

    assert await queue.receive(max_messages=1, wait_s=0, lease_s=1) == []
    [second] = await queue.receive(max_messages=1, wait_s=10, lease_s=30)

    assert second.message_id == first.message_id
    assert second.receive_count == first.receive_count + 1
    assert second.receipt != first.receipt


async def test_message_received_max_receives_times_moves_to_dlq(queue: InspectableQueue) -> None:
    message_id = await queue.send("poison")
    for expected_count in range(1, queue.max_receives + 1):
        [received] = await queue.receive(max_messages=1, wait_s=5, lease_s=30)
        assert received.receive_count == expected_count
        await queue.release(received)

    assert await queue.receive(max_messages=1, wait_s=1, lease_s=30) == []
    [dead] = await queue.dead_letters()
    assert (dead.message_id, dead.body, dead.reason) == (message_id, "poison", None)
    assert (await queue.depth())["dead_lettered"] == 1


async def test_dead_letter_moves_at_once_and_keeps_the_reason(queue: InspectableQueue) -> None:
    message_id = await queue.send('{"type": "nope"}')
    [received] = await queue.receive(max_messages=1, wait_s=5, lease_s=30)

    await queue.dead_letter(received, "type: unknown message type 'nope'")

    assert await queue.receive(max_messages=1, wait_s=0, lease_s=30) == []
    [dead] = await queue.dead_letters()
    assert dead.message_id == message_id
    assert dead.body == '{"type": "nope"}'
    assert dead.reason == "type: unknown message type 'nope'"
    assert dead.receive_count == 1
    assert dead.source_queue == queue.name


async def test_long_poll_returns_as_soon_as_a_message_arrives(queue: InspectableQueue) -> None:
    poll = asyncio.create_task(queue.receive(max_messages=1, wait_s=20, lease_s=30))
    await asyncio.sleep(0.3)  # let the poll start waiting before the message exists
    await queue.send("arrived")

    received = await asyncio.wait_for(poll, timeout=EARLY)
    assert [m.body for m in received] == ["arrived"]


async def test_released_message_with_delay_comes_back_after_the_delay(
    queue: InspectableQueue,
) -> None:
    await queue.send("later")
    [first] = await queue.receive(max_messages=1, wait_s=5, lease_s=30)

    await queue.release(first, delay_s=2)

    assert await queue.receive(max_messages=1, wait_s=0, lease_s=30) == []
    [again] = await queue.receive(max_messages=1, wait_s=10, lease_s=30)
    assert (again.message_id, again.receive_count) == (first.message_id, 2)


async def test_heartbeat_extends_the_lease(queue: InspectableQueue) -> None:
    await queue.send("long job")
    [received] = await queue.receive(max_messages=1, wait_s=5, lease_s=1)

    await queue.extend(received, lease_s=30)
    await asyncio.sleep(1.5)  # past the original one-second lease

    assert await queue.receive(max_messages=1, wait_s=0, lease_s=30) == []
    await queue.ack(received)
    assert (await queue.depth())["in_flight"] == 0


async def test_depth_counts_visible_and_in_flight_messages(queue: InspectableQueue) -> None:
    await queue.send("a")
    await queue.send("b")
    await queue.receive(max_messages=1, wait_s=5, lease_s=30)

    depth = await queue.depth()
    assert (depth["visible"], depth["in_flight"], depth["dead_lettered"]) == (1, 1, 0)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_endpoint_raises_queue_unavailable(
    backend: tuple[str, str | None],
) -> None:
    if backend[0] == "memory":
        pytest.skip("the in-memory queue has no endpoint that can go away")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    async with SqsConnection(endpoint, REGION, connect_timeout_s=1) as connection:
        with pytest.raises(QueueUnavailable):
            await connection.queue("anything", create=True)
        queue = SqsMessageQueue(
            connection,
            "gone",
            url=f"{endpoint}/123456789012/gone",
            dlq_url=f"{endpoint}/123456789012/gone-dlq",
            max_receives=3,
        )
        for operation in (queue.ping(), queue.send("x"), queue.receive(1, 0, 30), queue.depth()):
            with pytest.raises(QueueUnavailable):
                await operation


async def test_missing_queue_raises_queue_unavailable(backend: tuple[str, str | None]) -> None:
    if backend[0] == "memory":
        pytest.skip("the in-memory queue exists as soon as it is built")
    async with SqsConnection(backend[1], REGION) as connection:
        with pytest.raises(QueueUnavailable, match="does not exist"):
            await connection.queue(unique_name())


async def test_create_is_idempotent_and_open_reads_the_redrive_policy(
    backend: tuple[str, str | None],
) -> None:
    if backend[0] == "memory":
        pytest.skip("queue creation is an SQS concern")
    name = unique_name()
    async with SqsConnection(backend[1], REGION) as connection:
        await connection.queue(name, create=True, max_receives=5)
        created_again = await connection.queue(name, create=True, max_receives=4)
        opened = await connection.queue(name)
        try:
            assert opened.max_receives == 4
            await opened.ping()
        finally:
            await _delete(connection, created_again)


async def test_health_check_answers_for_a_live_queue(backend: tuple[str, str | None]) -> None:
    if backend[0] == "memory":
        pytest.skip("readiness is an SQS concern")
    from adapters.sqs import QueueHealthCheck

    async with SqsConnection(backend[1], REGION) as connection:
        queue = await connection.queue(unique_name(), create=True)
        try:
            check = QueueHealthCheck(queue)
            await check.check()
            assert check.name == f"sqs:{queue.name}"
        finally:
            await _delete(connection, queue)
