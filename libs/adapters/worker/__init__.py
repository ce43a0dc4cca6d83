"""The queue worker runtime shared by the ingestor and the backtester, the process around it
(signals, maintenance, exit codes) and JSON logging."""

from adapters.worker.logging import JsonFormatter, configure_json_logging, redact
from adapters.worker.process import (
    EXIT_RESTART_REQUIRED,
    Maintenance,
    WorkerProcess,
    serve_worker,
    worker_settings,
)
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
    "EXIT_RESTART_REQUIRED",
    "Handler",
    "JsonFormatter",
    "Maintenance",
    "MessageContext",
    "Outcome",
    "Worker",
    "WorkerMetrics",
    "WorkerProcess",
    "WorkerSettings",
    "backoff_delay",
    "configure_json_logging",
    "redact",
    "run_until_signalled",
    "serve_worker",
    "worker_settings",
]
