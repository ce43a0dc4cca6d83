"""SQS adapter: ``SqsConnection`` (one aioboto3 client per process) and ``SqsMessageQueue``."""

from adapters.sqs.queue import (
    DLQ_SUFFIX,
    QueueHealthCheck,
    SqsConfigurationError,
    SqsConnection,
    SqsMessageQueue,
    open_queues,
    redact_endpoint,
)

__all__ = [
    "DLQ_SUFFIX",
    "QueueHealthCheck",
    "SqsConfigurationError",
    "SqsConnection",
    "SqsMessageQueue",
    "open_queues",
    "redact_endpoint",
]
