"""The ingestor process (``insight-invest ingestor``): JSON logs, then the worker that
``ingestor.bootstrap`` assembles, until SIGTERM/SIGINT (``adapters.worker.process``)."""

from __future__ import annotations

import asyncio

from adapters.settings import LoggingSettings
from adapters.worker import configure_json_logging, serve_worker
from ingestor.bootstrap import bootstrap


def serve() -> int:
    """Run the ingestor; return the process's exit code (0, or 75 to be started afresh)."""
    configure_json_logging(LoggingSettings().log_level)
    return asyncio.run(serve_worker(bootstrap()))
