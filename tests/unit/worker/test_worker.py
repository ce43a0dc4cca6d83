"""The worker runtime over the in-memory queue: ack, retry, dead-letter, timeout, heartbeat, stop.

The fake queue runs at ``SCALE`` real seconds per queue second, so leases expire in a fraction
of a second; retry backoff is zero so redeliveries come at once. The heartbeat test moves the
queue's clock by hand instead, so a stalled machine cannot lapse a lease it means to keep.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.memory.queue import InMemoryMessageQueue
from adapters.worker import MessageContext, Worker, WorkerSettings, backoff_delay
from domain.errors import (
    PermanentFailure,
    ProviderUnavailable,
    StorageCredentialsRejected,
    StorageUnavailable,
)
from domain.messages import RunBacktest, encode_message

SCALE = 0.1
# A bound that only a hung worker reaches; never a timing assertion.
LIMIT_S = 10.0
FAST = {"wait_s": 0.2, "retry_base_s": 0, "retry_max_s": 0, "shutdown_grace_s": 2.0}


def settings(**overrides: Any) -> WorkerSettings:
    return WorkerSettings(**{"concurrency": 2, "lease_s": 5, **FAST, **overrides})


def job_body() -> str:
    return encode_message(RunBacktest(job_id=uuid.uuid4()))


async def run_until(worker: Worker, done: Callable[[], Awaitable[bool]]) -> None:
    """Run the worker until ``done()`` holds, then stop it and wait for it to return."""
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(LIMIT_S):
            await _poll(done)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=LIMIT_S)


async def _poll(done: Callable[[], Awaitable[bool]]) -> None:
    while True:
        if await done():
            return
        await asyncio.sleep(0.01)


class Recorder:
    """A run_backtest handler whose behaviour per delivery is scripted by receive count."""

    def __init__(self, behave: Callable[[MessageContext], Awaitable[None]] | None = None) -> None:
        self.deliveries: list[int] = []
        self.completed: list[str] = []
        self._behave = behave

    async def __call__(self, message: RunBacktest, context: MessageContext) -> None:
        self.deliveries.append(context.receive_count)
        if self._behave is not None:
            await self._behave(context)
        self.completed.append(str(message.job_id))


@pytest.fixture
def queue() -> InMemoryMessageQueue:
    return InMemoryMessageQueue("jobs", time_scale=SCALE)


async def drained(queue: InMemoryMessageQueue) -> bool:
    depth = await queue.depth()
    return depth["visible"] + depth["in_flight"] + depth["delayed"] == 0


async def test_successful_handler_acks_the_message(queue: InMemoryMessageQueue) -> None:
    body = job_body()
    await queue.send(body)
    handler = Recorder()
    worker = Worker(queue, {"run_backtest": handler}, settings())

    await run_until(worker, lambda: drained(queue))

    assert handler.completed == [json.loads(body)["job_id"]]
    assert await queue.dead_letters() == []


async def test_retryable_failure_is_retried_then_dead_lettered_after_three_receives(
    queue: InMemoryMessageQueue,
) -> None:
    async def provider_down(_: MessageContext) -> None:
        raise ProviderUnavailable("yahoo answered 503")

    await queue.send(job_body())
    handler = Recorder(provider_down)
    worker = Worker(queue, {"run_backtest": handler}, settings(inline_retry_s=0))

    await run_until(worker, lambda: drained(queue))

    assert handler.deliveries == [1, 2, 3]
    [dead] = await queue.dead_letters()
    assert dead.reason is None  # moved by the redrive policy, as SQS does


async def test_a_short_outage_is_ridden_out_within_the_lease_without_spending_receives() -> None:
    queue = InMemoryMessageQueue("real-time")  # in-lease pauses are real seconds
    calls = 0

    async def database_restarting(_: MessageContext) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise StorageUnavailable("connection refused")

    await queue.send(job_body())
    handler = Recorder(database_restarting)
    worker = Worker(queue, {"run_backtest": handler}, settings(inline_retry_s=10))

    await run_until(worker, lambda: drained(queue))

    assert handler.deliveries == [1, 1, 1]  # three attempts, one receive
    assert len(handler.completed) == 1
    assert await queue.dead_letters() == []


async def test_rejected_database_credentials_release_the_message_and_stop_the_worker(
    queue: InMemoryMessageQueue, caplog: pytest.LogCaptureFixture
) -> None:
    async def password_rotated(_: MessageContext) -> None:
        raise StorageCredentialsRejected("database rejected the credentials (SQLSTATE 28P01)")

    message_id = await queue.send(job_body())
    handler = Recorder(password_rotated)
    # An inline retry would be allowed for 10 s: the rejection must not use it. One slot, so no
    # poll is in flight to lease the released message back (SQS would hide it for a lease).
    worker = Worker(queue, {"run_backtest": handler}, settings(inline_retry_s=10, concurrency=1))
    stop = asyncio.Event()

    with pytest.raises(StorageCredentialsRejected):
        await asyncio.wait_for(worker.run(stop), timeout=LIMIT_S)

    assert stop.is_set()  # it stopped by itself, as on SIGTERM
    assert handler.deliveries == [1]  # neither retried in the lease nor handled again here
    # Hidden for one lease, so tasks started before the rotation cannot spend its receives
    # while ECS starts one that reads the current secret; then it is delivered again.
    assert await queue.receive(max_messages=1, wait_s=0, lease_s=5) == []
    [again] = await queue.receive(max_messages=1, wait_s=2 * settings().lease_s, lease_s=5)
    assert (again.message_id, again.receive_count) == (message_id, 2)
    assert await queue.dead_letters() == []
    [stopping] = [r for r in caplog.records if r.getMessage().startswith("stopping:")]
    assert stopping.levelno == logging.ERROR and "28P01" in stopping.reason


async def test_unexpected_exception_is_retried_like_a_retryable_one(
    queue: InMemoryMessageQueue, caplog: pytest.LogCaptureFixture
) -> None:
    async def fail_once(context: MessageContext) -> None:
        if context.receive_count == 1:
            raise KeyError("bug")

    await queue.send(job_body())
    handler = Recorder(fail_once)
    worker = Worker(queue, {"run_backtest": handler}, settings())

    with caplog.at_level(logging.INFO, logger="adapters.worker"):
        await run_until(worker, lambda: drained(queue))

    assert handler.deliveries == [1, 2]
    assert len(handler.completed) == 1
    outcomes = [(r.levelno, r.outcome) for r in caplog.records if hasattr(r, "outcome")]
    assert outcomes == [(logging.ERROR, "error"), (logging.INFO, "acked")]


async def test_invalid_body_is_dead_lettered_after_one_receive_with_the_reason(
    queue: InMemoryMessageQueue,
) -> None:
    await queue.send('{"type": "run_backtest", "job_id": "not-a-uuid"}')
    handler = Recorder()
    worker = Worker(queue, {"run_backtest": handler}, settings())

    await run_until(worker, lambda: drained(queue))

    assert handler.deliveries == []
    [dead] = await queue.dead_letters()
    assert dead.receive_count == 1
    assert dead.reason is not None and "job_id" in dead.reason


async def test_message_type_without_a_handler_is_dead_lettered(queue: InMemoryMessageQueue) -> None:
    await queue.send('{"type": "update_macro"}')
    worker = Worker(queue, {"run_backtest": Recorder()}, settings())

    await run_until(worker, lambda: drained(queue))

    [dead] = await queue.dead_letters()
    assert dead.reason is not None and "update_macro" in dead.reason


async def test_permanent_failure_from_a_handler_is_dead_lettered_at_once(
    queue: InMemoryMessageQueue,
) -> None:
    async def impossible(_: MessageContext) -> None:
        raise PermanentFailure("strategy 'magic' does not exist")

    await queue.send(job_body())
    handler = Recorder(impossible)
    worker = Worker(queue, {"run_backtest": handler}, settings())

    await run_until(worker, lambda: drained(queue))

    assert handler.deliveries == [1]
    [dead] = await queue.dead_letters()
    assert dead.reason == "strategy 'magic' does not exist"


async def test_handler_past_its_timeout_is_cancelled_and_the_message_redelivered(
    queue: InMemoryMessageQueue,
) -> None:
    cancelled: list[int] = []

    async def hang_first_time(context: MessageContext) -> None:
        if context.receive_count == 1:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(context.receive_count)
                raise

    await queue.send(job_body())
    handler = Recorder(hang_first_time)
    worker = Worker(queue, {"run_backtest": handler}, settings(handler_timeout_s=0.2))

    await run_until(worker, lambda: drained(queue))

    assert cancelled == [1]
    assert handler.deliveries == [1, 2]
    assert len(handler.completed) == 1


class QueueTime:
    """The queue's clock, moved only by the test: a lease lapses when the test says time has
    passed, never because the machine stalled."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class LeaseCountingQueue(InMemoryMessageQueue):
    """The in-memory queue, telling when the lease was next extended (a worker heartbeat)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._extended = asyncio.Event()

    async def extend(self, message: Any, lease_s: int) -> None:
        await super().extend(message, lease_s)
        self._extended.set()

    async def next_extension(self) -> None:
        self._extended.clear()
        await self._extended.wait()


async def test_heartbeat_keeps_a_message_leased_while_the_handler_outlives_the_lease() -> None:
    lease_s = 2
    queue_time = QueueTime()
    queue = LeaseCountingQueue("jobs", monotonic=queue_time)

    async def five_leases(_: MessageContext) -> None:
        # Queue time moves half a lease at a time, and only once the heartbeat has answered
        # the previous move: without extensions the lease would lapse after two moves.
        for _ in range(10):
            queue_time.now += lease_s / 2
            await queue.next_extension()

    await queue.send(job_body())
    handler = Recorder(five_leases)
    worker = Worker(
        queue,
        {"run_backtest": handler},
        settings(lease_s=lease_s, heartbeat_every_s=0.02, concurrency=4),
    )

    await run_until(worker, lambda: drained(queue))

    assert handler.deliveries == [1]  # never redelivered to the idle slots polling beside it
    assert await queue.dead_letters() == []


async def test_without_heartbeat_a_lease_outlived_would_redeliver(
    queue: InMemoryMessageQueue,
) -> None:
    # The control for the test above: beating too rarely lets the lease lapse.
    async def slow(context: MessageContext) -> None:
        if context.receive_count == 1:
            await asyncio.sleep(0.5)

    await queue.send(job_body())
    handler = Recorder(slow)
    worker = Worker(
        queue, {"run_backtest": handler}, settings(lease_s=2, heartbeat_every_s=1.9, concurrency=4)
    )

    await run_until(worker, lambda: asyncio.sleep(0, result=len(handler.completed) == 2))

    assert handler.deliveries == [1, 2]


async def test_stop_waits_for_in_flight_handlers_to_finish(queue: InMemoryMessageQueue) -> None:
    started = asyncio.Event()

    async def slowish(_: MessageContext) -> None:
        started.set()
        await asyncio.sleep(0.3)

    await queue.send(job_body())
    handler = Recorder(slowish)
    worker = Worker(queue, {"run_backtest": handler}, settings())
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), timeout=5)

    stop.set()
    await asyncio.wait_for(running, timeout=5)

    assert len(handler.completed) == 1
    assert await drained(queue)


async def test_stop_releases_what_does_not_finish_within_the_grace_period(
    queue: InMemoryMessageQueue,
) -> None:
    started = asyncio.Event()

    async def endless(_: MessageContext) -> None:
        started.set()
        await asyncio.sleep(60)

    message_id = await queue.send(job_body())
    worker = Worker(queue, {"run_backtest": Recorder(endless)}, settings(shutdown_grace_s=0.1))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), timeout=5)

    stop.set()
    await asyncio.wait_for(running, timeout=5)

    # Released with visibility 0: the next worker gets it now, not after the 5 s lease.
    [again] = await queue.receive(max_messages=1, wait_s=0, lease_s=5)
    assert (again.message_id, again.receive_count) == (message_id, 2)


async def test_concurrency_limits_handlers_running_at_once(queue: InMemoryMessageQueue) -> None:
    running = 0
    peak = 0

    async def track(_: MessageContext) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    for _ in range(7):
        await queue.send(job_body())
    handler = Recorder(track)
    worker = Worker(queue, {"run_backtest": handler}, settings(concurrency=3))

    await run_until(worker, lambda: drained(queue))

    assert len(handler.completed) == 7
    assert peak == 3


def test_backoff_grows_with_receive_count_and_stays_within_bounds() -> None:
    for count in range(1, 12):
        step = min(60.0, 5.0 * 2 ** (count - 1))
        delays = {backoff_delay(count, 5.0, 60.0) for _ in range(50)}
        assert all(round(step / 2) <= d <= round(step) for d in delays)
    assert backoff_delay(1, 5.0, 60.0) < backoff_delay(5, 5.0, 60.0)


def test_heartbeat_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(ValueError, match="heartbeat_every_s"):
        WorkerSettings(lease_s=10, heartbeat_every_s=10)
    assert WorkerSettings(lease_s=30).heartbeat_interval_s == 10


async def test_metrics_hook_sees_every_settled_message(queue: InMemoryMessageQueue) -> None:
    seen: list[tuple[str, str]] = []

    class Metrics:
        def observe(self, message_type: str, outcome: str, duration_s: float) -> None:
            assert duration_s >= 0
            seen.append((message_type, outcome))

    await queue.send(job_body())
    await queue.send("not json")
    worker = Worker(queue, {"run_backtest": Recorder()}, settings(), metrics=Metrics())

    await run_until(worker, lambda: drained(queue))

    assert sorted(seen) == [("run_backtest", "acked"), ("unknown", "dead_lettered")]
