"""The queue worker shared by the ingestor and the backtester (design §4).

At-least-once delivery with idempotent handlers:
- long-poll receive, at most ``concurrency`` messages in flight;
- while a handler runs, a heartbeat keeps extending its lease so no other worker gets it;
- the message is acked only after its handler returned (its effect is committed);
- ``RetryableError`` or an unexpected exception → released with exponential backoff and jitter,
  so SQS's redrive policy dead-letters it after ``max_receives`` receives;
- ``PermanentFailure`` (an invalid body, a type nobody handles, a job that can never run) →
  dead-lettered at once with the reason;
- a handler running past ``handler_timeout_s`` is cancelled and its message released;
- ``RestartRequired`` (the database refused credentials rotated since start) → the message is
  released at once, the worker stops as on SIGTERM and run() raises the error, so the process
  exits non-zero and its supervisor (ECS) starts a fresh one with the current secret;
- on stop (SIGTERM): no new receives, in-flight handlers get ``shutdown_grace_s`` to finish,
  the rest are cancelled and released at once (visibility 0) for another worker; run() returns.

Handlers are registered by message ``type``: a new job type is a new handler, not a change here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_before_delay,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from adapters.sqs_protocol import MAX_BATCH
from domain.errors import PermanentFailure, RestartRequired, RetryableError
from domain.messages import RunBacktest, UpdateMacro, UpdatePrices, parse_message
from domain.ports import Clock, MessageQueue, ReceivedMessage

logger = logging.getLogger("adapters.worker")

Message = UpdatePrices | UpdateMacro | RunBacktest
# SQS caps a visibility change at 12 hours.
MAX_VISIBILITY_S = 12 * 60 * 60


class WorkerSettings(BaseModel):
    """How a worker consumes its queue. Seconds are floats except the lease, which SQS counts
    in whole seconds."""

    model_config = ConfigDict(frozen=True)

    concurrency: int = Field(default=4, ge=1, le=100)
    wait_s: float = Field(default=20.0, ge=0, le=20)
    lease_s: int = Field(default=60, ge=1, le=MAX_VISIBILITY_S)
    # None: a third of the lease, so two heartbeats may fail before the lease runs out.
    heartbeat_every_s: float | None = Field(default=None, gt=0)
    handler_timeout_s: float = Field(default=1800.0, gt=0)
    # ECS waits 30 s between SIGTERM and SIGKILL by default; finish well within it.
    shutdown_grace_s: float = Field(default=25.0, ge=0)
    # A RetryableError is first retried inside the lease (the heartbeat keeps it) for up to this
    # long, so a short outage of a dependency (a database restart, a provider hiccup) does not
    # spend the message's three receives; only a longer one releases it with backoff.
    inline_retry_s: float = Field(default=30.0, ge=0)
    retry_base_s: float = Field(default=5.0, ge=0)
    retry_max_s: float = Field(default=300.0, ge=0, le=MAX_VISIBILITY_S)
    # Pause after a failed receive (queue unreachable) before polling again.
    receive_error_pause_s: float = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> WorkerSettings:
        if self.heartbeat_every_s is not None and self.heartbeat_every_s >= self.lease_s:
            raise ValueError("heartbeat_every_s must be shorter than lease_s")
        return self

    @property
    def heartbeat_interval_s(self) -> float:
        return self.heartbeat_every_s if self.heartbeat_every_s is not None else self.lease_s / 3


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageContext:
    """What a handler may need besides the message: the delivery it is working under."""

    message_id: str
    receive_count: int
    received: ReceivedMessage


Handler = Callable[[Any, MessageContext], Awaitable[None]]


class WorkerMetrics(Protocol):
    def observe(self, message_type: str, outcome: str, duration_s: float) -> None:
        """Called once per message after it was settled."""
        ...


class Outcome:
    ACKED = "acked"
    RETRY = "retry"
    ERROR = "error"
    TIMEOUT = "timeout"
    DEAD_LETTERED = "dead_lettered"
    RELEASED_ON_SHUTDOWN = "released_on_shutdown"
    RELEASED_FOR_RESTART = "released_for_restart"


# Pauses between attempts of a handler inside its lease: steps of 1, 2, 4, 8, 8 … seconds.
INLINE_RETRY_BASE_S = 1.0
INLINE_RETRY_MAX_S = 8.0


def equal_jitter_backoff(base_s: float, max_s: float) -> wait_base:
    """The worker's one retry policy: attempt ``n`` waits half of ``step = min(max_s, base_s ·
    2^(n-1))`` plus a uniform draw from the other half ("equal jitter"), so retries of a burst of
    failures spread out but never come back sooner than half the step."""
    half_step = wait_exponential(multiplier=base_s / 2, max=max_s / 2)
    return half_step + wait_random_exponential(multiplier=base_s / 2, max=max_s / 2)


def backoff_delay(receive_count: int, base_s: float, max_s: float) -> int:
    """Whole seconds a message stays invisible after its ``receive_count``-th delivery failed:
    ``equal_jitter_backoff`` at that attempt, within SQS's visibility limit."""
    attempt = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    attempt.attempt_number = max(receive_count, 1)
    return min(MAX_VISIBILITY_S, round(equal_jitter_backoff(base_s, max_s)(attempt)))


class Worker:
    """Consumes one queue, dispatching each message to the handler of its type."""

    def __init__(
        self,
        queue: MessageQueue,
        handlers: Mapping[str, Handler],
        settings: WorkerSettings | None = None,
        *,
        clock: Clock | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self.settings = settings or WorkerSettings()
        self.clock = clock  # kept for handlers built around the worker; timing uses monotonic
        self._metrics = metrics
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stop: asyncio.Event | None = None
        self._restart: RestartRequired | None = None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then drain (see the module docstring) and return.
        After a handler raised ``RestartRequired`` the worker sets ``stop`` itself and, once
        drained, raises that error."""
        self._stop = stop
        logger.info(
            "worker started",
            extra={"queue": self.queue.name, "types": sorted(self.handlers), **self._describe()},
        )
        try:
            while not stop.is_set():
                if not await self._wait_for_capacity(stop):
                    break
                batch = await self._receive(stop)
                for received in batch:
                    if self._restart is None:
                        self._start(received)
                    else:  # polled as the worker stopped for a restart: hand it back unopened
                        await self._release_for_restart(received)
        finally:
            await self._drain()
        logger.info("worker stopped", extra={"queue": self.queue.name})
        if self._restart is not None:
            raise self._restart

    # --- receiving ----------------------------------------------------------------------

    async def _wait_for_capacity(self, stop: asyncio.Event) -> bool:
        """Block while ``concurrency`` handlers run; False when stopped meanwhile."""
        while len(self._in_flight) >= self.settings.concurrency:
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({stopping, *self._in_flight}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if stop.is_set():
                return False
        return True

    async def _receive(self, stop: asyncio.Event) -> list[ReceivedMessage]:
        free = min(self.settings.concurrency - len(self._in_flight), MAX_BATCH)
        poll = asyncio.ensure_future(
            self.queue.receive(free, self.settings.wait_s, self.settings.lease_s)
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not poll.done():
            # Stopping mid-poll. A message SQS leased to this poll is never seen here; it
            # comes back when its lease ends, so it is delayed, never lost.
            poll.cancel()
            with contextlib.suppress(BaseException):
                await poll
            return []
        try:
            return poll.result()
        except RetryableError as exc:
            logger.warning(
                "receive failed; pausing", extra={"queue": self.queue.name, "error": str(exc)}
            )
        except Exception:
            logger.exception(
                "receive failed unexpectedly; pausing", extra={"queue": self.queue.name}
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=self.settings.receive_error_pause_s)
        return []

    def _start(self, received: ReceivedMessage) -> None:
        task = asyncio.create_task(self._process(received), name=f"message-{received.message_id}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _drain(self) -> None:
        if not self._in_flight:
            return
        pending = set(self._in_flight)
        logger.info(
            "stopping: waiting for in-flight messages",
            extra={"in_flight": len(pending), "grace_s": self.settings.shutdown_grace_s},
        )
        _, unfinished = await asyncio.wait(pending, timeout=self.settings.shutdown_grace_s)
        for task in unfinished:
            task.cancel()  # _process releases the message with visibility 0
        await asyncio.gather(*unfinished, return_exceptions=True)

    # --- one message --------------------------------------------------------------------

    async def _process(self, received: ReceivedMessage) -> None:
        started = time.monotonic()
        message_type = "unknown"
        outcome = Outcome.ERROR
        detail: str | None = None
        try:
            try:
                message = parse_message(received.body)
                message_type = message.type
                handler = self.handlers.get(message_type)
                if handler is None:
                    raise PermanentFailure(f"no handler for message type {message_type!r} here")
            except PermanentFailure as exc:
                outcome, detail = Outcome.DEAD_LETTERED, str(exc) or type(exc).__name__
                await self._settle(self.queue.dead_letter(received, detail), received)
                return
            outcome, detail = await self._handle(handler, message, received)
        except asyncio.CancelledError:
            outcome = Outcome.RELEASED_ON_SHUTDOWN
            raise
        finally:
            self._record(received, message_type, outcome, detail, time.monotonic() - started)

    async def _handle(
        self, handler: Handler, message: Message, received: ReceivedMessage
    ) -> tuple[str, str | None]:
        context = MessageContext(
            message_id=received.message_id, receive_count=received.receive_count, received=received
        )
        heartbeat = asyncio.create_task(self._heartbeat(received))
        try:
            await asyncio.wait_for(
                self._call_with_inline_retries(handler, message, context),
                self.settings.handler_timeout_s,
            )
        except asyncio.CancelledError:
            await self._stop_heartbeat(heartbeat)
            # Shutdown ran out of grace: hand the message to another worker right away.
            await asyncio.shield(self._settle(self.queue.release(received, 0), received))
            raise
        except TimeoutError:
            return await self._retry(heartbeat, received, Outcome.TIMEOUT, "handler timed out")
        except RestartRequired as exc:
            # Stop receiving first, so the released message is not polled back into this worker.
            self._stop_for_restart(exc)
            await self._stop_heartbeat(heartbeat)
            await self._release_for_restart(received)
            return Outcome.RELEASED_FOR_RESTART, str(exc) or type(exc).__name__
        except PermanentFailure as exc:
            await self._stop_heartbeat(heartbeat)
            reason = str(exc) or type(exc).__name__
            await self._settle(self.queue.dead_letter(received, reason), received)
            return Outcome.DEAD_LETTERED, reason
        except RetryableError as exc:
            return await self._retry(heartbeat, received, Outcome.RETRY, str(exc))
        except Exception as exc:
            logger.exception(
                "handler failed unexpectedly",
                extra={"message_id": received.message_id, "type": message.type},
            )
            return await self._retry(heartbeat, received, Outcome.ERROR, repr(exc))
        await self._stop_heartbeat(heartbeat)
        await self._settle(self.queue.ack(received), received)
        return Outcome.ACKED, None

    async def _call_with_inline_retries(
        self, handler: Handler, message: Message, context: MessageContext
    ) -> None:
        """Retry a ``RetryableError`` inside the lease while the next attempt still starts
        within ``inline_retry_s``; ``RestartRequired`` is never retried here, since retrying
        with what this process holds cannot succeed."""

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            logger.info(
                "retrying within the lease",
                extra={
                    "message_id": context.message_id,
                    "type": message.type,
                    "attempt": state.attempt_number,
                    "reason": str(error),
                    "pause_s": round(state.upcoming_sleep, 2),
                },
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetryableError)
            & retry_if_not_exception_type(RestartRequired),
            wait=equal_jitter_backoff(INLINE_RETRY_BASE_S, INLINE_RETRY_MAX_S),
            stop=stop_before_delay(self.settings.inline_retry_s),
            before_sleep=log_retry,
            reraise=True,
        )
        await retrying(handler, message, context)

    async def _retry(
        self, heartbeat: asyncio.Task[None], received: ReceivedMessage, outcome: str, detail: str
    ) -> tuple[str, str | None]:
        await self._stop_heartbeat(heartbeat)
        delay = backoff_delay(
            received.receive_count, self.settings.retry_base_s, self.settings.retry_max_s
        )
        await self._settle(self.queue.release(received, delay), received)
        return outcome, f"{detail} (retry in {delay}s)"

    async def _heartbeat(self, received: ReceivedMessage) -> None:
        interval = self.settings.heartbeat_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.queue.extend(received, self.settings.lease_s)
            except Exception as exc:  # a missed beat is survivable; the next one may succeed
                logger.warning(
                    "lease extension failed",
                    extra={"message_id": received.message_id, "error": str(exc)},
                )

    async def _release_for_restart(self, received: ReceivedMessage) -> None:
        """Hand a message back, visible again after one lease: other tasks started before the
        rotation would fail it the same way at once, each spending one of its receives, while
        ECS needs about that long to start a task that reads the current secret."""
        await self._settle(self.queue.release(received, self.settings.lease_s), received)

    def _stop_for_restart(self, error: RestartRequired) -> None:
        if self._restart is None:
            # The reason is a domain error's own text: it names no host, user or secret.
            logger.error(
                "stopping: this process must be restarted",
                extra={"queue": self.queue.name, "reason": str(error) or type(error).__name__},
            )
            self._restart = error
        if self._stop is not None:
            self._stop.set()

    @staticmethod
    async def _stop_heartbeat(heartbeat: asyncio.Task[None]) -> None:
        # Stop beating before settling, or a late extend could race the ack/release.
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat

    async def _settle(self, action: Awaitable[None], received: ReceivedMessage) -> None:
        """Ack, release or dead-letter. If the queue is unreachable the lease simply runs out
        and the message is delivered again: at-least-once still holds."""
        try:
            await action
        except Exception as exc:
            logger.warning(
                "could not settle message; it will be redelivered",
                extra={"message_id": received.message_id, "error": str(exc)},
            )

    def _record(
        self,
        received: ReceivedMessage,
        message_type: str,
        outcome: str,
        detail: str | None,
        duration_s: float,
    ) -> None:
        # One line per message. An expected retry is INFO, an unexpected failure ERROR (its
        # traceback was logged when caught), a dead letter WARNING: someone should look.
        level = {
            Outcome.ERROR: logging.ERROR,
            Outcome.DEAD_LETTERED: logging.WARNING,
            Outcome.TIMEOUT: logging.WARNING,
            Outcome.RELEASED_FOR_RESTART: logging.ERROR,
        }.get(outcome, logging.INFO)
        logger.log(
            level,
            "message %s",
            outcome,
            extra={
                "queue": self.queue.name,
                "message_id": received.message_id,
                "type": message_type,
                "receive_count": received.receive_count,
                "outcome": outcome,
                "duration_ms": round(duration_s * 1000, 1),
                **({"detail": detail[:1000]} if detail else {}),
            },
        )
        if self._metrics is not None:
            with contextlib.suppress(Exception):  # metrics must never fail a message
                self._metrics.observe(message_type, outcome, duration_s)

    def _describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "concurrency": s.concurrency,
            "lease_s": s.lease_s,
            "handler_timeout_s": s.handler_timeout_s,
            "shutdown_grace_s": s.shutdown_grace_s,
        }


async def run_until_signalled(worker: Worker, stop: asyncio.Event | None = None) -> None:
    """Run ``worker`` until SIGTERM or SIGINT, then drain and return (the process exits 0);
    ``RestartRequired`` from a handler propagates once drained (the process exits non-zero)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, _on_signal, stop, signum)
    try:
        await worker.run(stop)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def _on_signal(stop: asyncio.Event, signum: int) -> None:
    logger.info("signal received; stopping", extra={"signal": signal.Signals(signum).name})
    stop.set()
