"""The queue worker runtime shared by the ingestor and the backtester, and JSON logging."""

from adapters.worker.logging import JsonFormatter, configure_json_logging, redact
from adapters.worker.runtime import (
    Handler,
    MessageContext,
    Outcome,
    Worker,
    WorkerMetrics,
    WorkerSettings,
    backoff_delay,
    run_until_signalled,
)

__all__ = [
    "Handler",
    "JsonFormatter",
    "MessageContext",
    "Outcome",
    "Worker",
    "WorkerMetrics",
    "WorkerSettings",
    "backoff_delay",
    "configure_json_logging",
    "redact",
    "run_until_signalled",
]
