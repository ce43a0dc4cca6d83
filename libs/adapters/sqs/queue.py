"""``MessageQueue`` over Amazon SQS (aioboto3): the same HTTP protocol against AWS or moto.

One ``SqsConnection`` per process owns the aioboto3 client (created at start-up, closed at
shutdown); each ``SqsMessageQueue`` is a queue URL plus its dead-letter queue's URL on it.
Every botocore/aiohttp failure to reach the endpoint becomes ``QueueUnavailable`` (retryable),
so the worker and the gateway never see vendor exceptions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aioboto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConfigParseError,
    InvalidConfigError,
    ProfileNotFound,
)
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adapters.sqs_protocol import (
    MAX_BATCH,
    MAX_DELAY_S,
    MAX_LEASE_S,
    MAX_WAIT_S,
    DeadLetter,
    check_range,
)
from domain.errors import QueueUnavailable
from domain.ports import ReceivedMessage

logger = logging.getLogger(__name__)

DLQ_SUFFIX = "-dlq"
# SQS keeps a message at most 14 days; a DLQ keeps it as long as possible for inspection.
DLQ_RETENTION_S = 14 * 24 * 60 * 60
# Message attributes count toward the 256 KiB limit: a reason is a diagnosis, not a dump.
MAX_REASON_CHARS = 4000
SEND_ATTEMPTS = 3

# Error codes that mean "the queue is not there (or not yet)": unavailable, not a bug of ours.
_MISSING_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
# A visibility change on a message whose lease already ended or that was deleted: the lease is
# lost and SQS will redeliver; nothing to do.
_LOST_LEASE_CODES = {
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
    "ReceiptHandleIsInvalid",
    "InvalidParameterValue",
}
_TRANSIENT_CODES = {
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "RequestThrottled",
    "Throttling",
    "ThrottlingException",
    "KmsThrottled",
}


def redact_endpoint(url: str | None) -> str:
    """``scheme://host:port`` of an endpoint, never its path, query or credentials."""
    if not url:
        return "aws-default"
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


@contextlib.contextmanager
def _translated(operation: str, queue: str) -> Any:
    """Turn vendor exceptions into ``QueueUnavailable`` for everything that is the endpoint's
    fault (unreachable, timing out, 5xx, throttling, queue missing)."""
    try:
        yield
    except ClientError as exc:
        code = _error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _MISSING_QUEUE_CODES:
            raise QueueUnavailable(f"SQS queue {queue!r} does not exist ({operation})") from None
        if code in _TRANSIENT_CODES or status >= 500:
            raise QueueUnavailable(f"SQS {operation} on {queue!r} failed: {code}") from None
        raise
    except (BotoCoreError, OSError, TimeoutError) as exc:
        # The exception text may hold the endpoint URL; only its class goes into the message.
        raise QueueUnavailable(
            f"SQS {operation} on {queue!r} failed: {type(exc).__name__}"
        ) from None


class SqsConfigurationError(RuntimeError):
    """The AWS configuration this process was given cannot work (an AWS_PROFILE that does not
    exist, an unreadable config file). Not retryable: waiting will not fix it, so callers stop
    with this message instead of retrying."""


# Raised while botocore reads the shared config and profile, before any request is made.
_CONFIGURATION_ERRORS = (ProfileNotFound, ConfigParseError, InvalidConfigError)


@contextlib.contextmanager
def _configuration_checked() -> Iterator[None]:
    try:
        yield
    except _CONFIGURATION_ERRORS as exc:
        raise SqsConfigurationError(f"the AWS configuration cannot be used: {exc}") from None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class SqsConnection:
    """The aioboto3 SQS client of one process: ``async with SqsConnection(url, region) as c``."""

    def __init__(
        self,
        endpoint_url: str | None,
        region: str,
        *,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = MAX_WAIT_S + 10.0,
        session: aioboto3.Session | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        with _configuration_checked():
            self._session = session or aioboto3.Session()
        # botocore's own retries are off: a long poll must not be retried silently, and send
        # has its own short, bounded retry. read_timeout must outlast the 20 s long poll.
        self._config = Config(
            region_name=region,
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    async def __aenter__(self) -> Self:
        stack = contextlib.AsyncExitStack()
        with _configuration_checked():
            self._client = await stack.enter_async_context(
                self._session.client("sqs", endpoint_url=self.endpoint_url, config=self._config)
            )
        self._stack = stack
        logger.info(
            "sqs client opened",
            extra={"endpoint": redact_endpoint(self.endpoint_url), "region": self.region},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("SqsConnection used outside `async with`")
        return self._client

    async def queue(
        self, name: str, *, create: bool = False, max_receives: int = 3, lease_s: int = 60
    ) -> SqsMessageQueue:
        """The queue ``name`` with its DLQ. ``create`` makes both if missing and (re)applies the
        redrive policy, idempotently; otherwise the DLQ and ``max_receives`` are read from the
        queue's redrive policy and a missing queue raises QueueUnavailable."""
        if create:
            return await self._create(name, max_receives=max_receives, lease_s=lease_s)
        return await self._open(name)

    async def _create(self, name: str, *, max_receives: int, lease_s: int) -> SqsMessageQueue:
        dlq_name = name + DLQ_SUFFIX
        with _translated("create_queue", name):
            dlq_url = await self._url_or_create(dlq_name)
            await self.client.set_queue_attributes(
                QueueUrl=dlq_url, Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_S)}
            )
            dlq_arn = await self._arn(dlq_url)
            url = await self._url_or_create(name)
            # Set after creation rather than passed to CreateQueue: CreateQueue refuses an
            # existing queue whose attributes differ, and this must be safe to repeat.
            redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}
            await self.client.set_queue_attributes(
                QueueUrl=url,
                Attributes={
                    "RedrivePolicy": json.dumps(redrive),
                    "VisibilityTimeout": str(lease_s),
                },
            )
        return SqsMessageQueue(self, name, url=url, dlq_url=dlq_url, max_receives=max_receives)

    async def _open(self, name: str) -> SqsMessageQueue:
        with _translated("get_queue_url", name):
            url = (await self.client.get_queue_url(QueueName=name))["QueueUrl"]
            attrs = await self.client.get_queue_attributes(
                QueueUrl=url, AttributeNames=["RedrivePolicy"]
            )
            policy = attrs.get("Attributes", {}).get("RedrivePolicy")
            if not policy:
                raise QueueUnavailable(f"SQS queue {name!r} has no dead-letter queue configured")
            redrive = json.loads(policy)
            dlq_name = str(redrive["deadLetterTargetArn"]).rsplit(":", 1)[-1]
            dlq_url = (await self.client.get_queue_url(QueueName=dlq_name))["QueueUrl"]
        return SqsMessageQueue(
            self, name, url=url, dlq_url=dlq_url, max_receives=int(redrive["maxReceiveCount"])
        )

    async def _url_or_create(self, name: str) -> str:
        try:
            return str((await self.client.get_queue_url(QueueName=name))["QueueUrl"])
        except ClientError as exc:
            if _error_code(exc) not in _MISSING_QUEUE_CODES:
                raise
        return str((await self.client.create_queue(QueueName=name))["QueueUrl"])

    async def _arn(self, url: str) -> str:
        attrs = await self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])


class SqsMessageQueue:
    """One SQS queue and its DLQ. Build it with ``SqsConnection.queue``."""

    def __init__(
        self, connection: SqsConnection, name: str, *, url: str, dlq_url: str, max_receives: int
    ) -> None:
        self.name = name
        self.max_receives = max_receives
        self._connection = connection
        self._url = url
        self._dlq_url = dlq_url

    @property
    def _client(self) -> Any:
        return self._connection.client

    async def send(self, body: str, delay_s: int = 0) -> str:
        check_range("delay_s", delay_s, 0, MAX_DELAY_S)
        # SendMessage is not idempotent on a standard queue: a retry after a lost response can
        # enqueue twice. That is within at-least-once, and consumers are idempotent.
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(SEND_ATTEMPTS),
            wait=wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.1),
            retry=retry_if_exception_type(QueueUnavailable),
            reraise=True,
        ):
            with attempt, _translated("send_message", self.name):
                answer = await self._client.send_message(
                    QueueUrl=self._url, MessageBody=body, DelaySeconds=delay_s
                )
        return str(answer["MessageId"])

    async def receive(
        self, max_messages: int, wait_s: float, lease_s: int
    ) -> list[ReceivedMessage]:
        check_range("max_messages", max_messages, 1, MAX_BATCH)
        check_range("wait_s", wait_s, 0, MAX_WAIT_S)
        check_range("lease_s", lease_s, 0, MAX_LEASE_S)
        with _translated("receive_message", self.name):
            answer = await self._client.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=math.ceil(wait_s),
                VisibilityTimeout=lease_s,
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
        return [_received(raw) for raw in answer.get("Messages", [])]

    async def extend(self, message: ReceivedMessage, lease_s: int) -> None:
        check_range("lease_s", lease_s, 0, MAX_LEASE_S)
        await self._change_visibility(message, lease_s)

    async def ack(self, message: ReceivedMessage) -> None:
        with _translated("delete_message", self.name):
            await self._client.delete_message(QueueUrl=self._url, ReceiptHandle=message.receipt)

    async def release(self, message: ReceivedMessage, delay_s: int = 0) -> None:
        check_range("delay_s", delay_s, 0, MAX_LEASE_S)
        await self._change_visibility(message, delay_s)

    async def dead_letter(self, message: ReceivedMessage, reason: str) -> None:
        # Send first, then delete: a crash in between leaves a duplicate in the DLQ, never a
        # lost message.
        attributes = {
            "reason": _string(reason[:MAX_REASON_CHARS] or "unspecified"),
            "source_queue": _string(self.name),
            "original_message_id": _string(message.message_id),
            "receive_count": {"DataType": "Number", "StringValue": str(message.receive_count)},
        }
        with _translated("dead_letter", self.name):
            await self._client.send_message(
                QueueUrl=self._dlq_url, MessageBody=message.body, MessageAttributes=attributes
            )
            await self._client.delete_message(QueueUrl=self._url, ReceiptHandle=message.receipt)

    async def depth(self) -> dict[str, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        with _translated("get_queue_attributes", self.name):
            main = await self._client.get_queue_attributes(QueueUrl=self._url, AttributeNames=names)
            dlq = await self._client.get_queue_attributes(
                QueueUrl=self._dlq_url, AttributeNames=names[:2]
            )
        m, d = main.get("Attributes", {}), dlq.get("Attributes", {})
        return {
            "visible": int(m.get(names[0], 0)),
            "in_flight": int(m.get(names[1], 0)),
            "delayed": int(m.get(names[2], 0)),
            "dead_lettered": int(d.get(names[0], 0)) + int(d.get(names[1], 0)),
        }

    async def ping(self) -> None:
        with _translated("ping", self.name):
            await self._client.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])

    async def dead_letters(self, max_messages: int = MAX_BATCH) -> list[DeadLetter]:
        """Look at up to ``max_messages`` dead letters without removing them (a zero-second
        lease leaves them visible). SQS returns a sample, not necessarily the oldest."""
        check_range("max_messages", max_messages, 1, MAX_BATCH)
        with _translated("receive_message", self.name + DLQ_SUFFIX):
            answer = await self._client.receive_message(
                QueueUrl=self._dlq_url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=1,
                VisibilityTimeout=0,
                AttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            )
        return [self._dead_letter(raw) for raw in answer.get("Messages", [])]

    def _dead_letter(self, raw: dict[str, Any]) -> DeadLetter:
        attrs = raw.get("MessageAttributes") or {}

        def value(key: str) -> str | None:
            return attrs[key]["StringValue"] if key in attrs else None

        # Redriven by SQS: the message keeps its id and we cannot know the source's count
        # beyond "max_receives"; dead-lettered by us: the attributes say everything.
        count = value("receive_count")
        return DeadLetter(
            message_id=value("original_message_id") or str(raw["MessageId"]),
            body=str(raw["Body"]),
            reason=value("reason"),
            receive_count=int(count) if count is not None else self.max_receives,
            source_queue=value("source_queue") or self.name,
        )

    async def _change_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        try:
            with _translated("change_message_visibility", self.name):
                await self._client.change_message_visibility(
                    QueueUrl=self._url, ReceiptHandle=message.receipt, VisibilityTimeout=seconds
                )
        except ClientError as exc:
            if _error_code(exc) not in _LOST_LEASE_CODES:
                raise
            # The lease already ended (or the message is gone): SQS redelivers it on its own.
            logger.warning(
                "lease already lost",
                extra={
                    "queue": self.name,
                    "message_id": message.message_id,
                    "code": _error_code(exc),
                },
            )


def _received(raw: dict[str, Any]) -> ReceivedMessage:
    attrs = raw.get("Attributes", {})
    sent = attrs.get("SentTimestamp")
    return ReceivedMessage(
        message_id=str(raw["MessageId"]),
        body=str(raw["Body"]),
        receipt=str(raw["ReceiptHandle"]),
        receive_count=int(attrs.get("ApproximateReceiveCount", 1)),
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
    )


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


@contextlib.asynccontextmanager
async def open_queues(
    endpoint_url: str | None, region: str, names: Sequence[str], *, create: bool = False
) -> AsyncIterator[dict[str, SqsMessageQueue]]:
    """Convenience for composition roots: one connection, several queues by name."""
    async with SqsConnection(endpoint_url, region) as connection:
        yield {name: await connection.queue(name, create=create) for name in names}


class QueueHealthCheck:
    """``HealthCheck`` for readiness probes: the queue answers, or QueueUnavailable."""

    def __init__(self, queue: SqsMessageQueue) -> None:
        self.queue = queue
        self.name = f"sqs:{queue.name}"

    async def check(self) -> None:
        await self.queue.ping()
