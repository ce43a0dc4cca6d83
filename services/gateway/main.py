"""The gateway process (``insight-invest gateway``): uvicorn serving the app that
``gateway.bootstrap`` assembles in each worker process.

Kept free of the app's imports: with GATEWAY_WORKERS > 1 this process only supervises.
"""

from __future__ import annotations

from adapters.settings import GatewaySettings, LoggingSettings
from adapters.worker.logging import configure_json_logging


def serve(host: str | None = None, port: int | None = None, workers: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT; the arguments override GATEWAY_HOST/PORT/WORKERS."""
    import uvicorn

    configure_json_logging(LoggingSettings().log_level)
    settings = GatewaySettings()
    # uvicorn drains connections on SIGTERM/SIGINT and then re-raises the signal through the
    # handler that was installed before it started (cli.main's, before any import): exit 0.
    uvicorn.run(
        "gateway.bootstrap:create_app_from_env",
        factory=True,
        host=host or settings.gateway_host,
        port=port or settings.gateway_port,
        workers=workers or settings.gateway_workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )
    return 0
