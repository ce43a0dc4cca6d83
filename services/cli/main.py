"""``insight-invest``: one command for every process of the platform.

Each subcommand is what an ECS task (or `make run`) starts; see docs/architecture.md. The three
services' subcommands only hand over to the service's own entry point (``<service>.main.serve``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence

SERVICES = ("gateway", "ingestor", "backtester")
COMMANDS = ("gateway", "ingestor", "backtester", "migrate", "seed", "send", "local-sqs", "dev")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="insight-invest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gateway = sub.add_parser("gateway", help="serve the HTTP API (uvicorn)")
    gateway.add_argument("--host", default=None, help="default: GATEWAY_HOST or 127.0.0.1")
    gateway.add_argument("--port", type=int, default=None, help="default: GATEWAY_PORT or 8000")
    gateway.add_argument("--workers", type=int, default=None, help="default: GATEWAY_WORKERS or 1")
    sub.add_parser("ingestor", help="consume update commands from the ingest queue")
    sub.add_parser("backtester", help="consume backtest jobs from the backtest queue")
    sub.add_parser("migrate", help="apply the database migrations (Alembic) up to head")
    seed = sub.add_parser(
        "seed", help="load the asset universe and the macro series catalog (idempotent)"
    )
    seed.add_argument(
        "--from-dir",
        default=None,
        help="take the universe from <dir>/assets.csv (default with MARKET_DATA_PROVIDER=csv)",
    )
    send = sub.add_parser(
        "send", help="post a command body to the ingest queue, as EventBridge would"
    )
    send.add_argument("body", help='JSON body, e.g. \'{"type": "update_prices", "market": "US"}\'')
    send.add_argument(
        "--local",
        action="store_true",
        help="post to the stack `make run` started (127.0.0.1:LOCAL_SQS_PORT, dummy "
        "credentials) instead of the SQS that SQS_ENDPOINT_URL/AWS credentials name",
    )
    local = sub.add_parser("local-sqs", help="serve a local SQS endpoint (moto) on loopback")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=9324)
    local.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen beyond loopback (only inside a private container network, e.g. compose)",
    )
    sub.add_parser("dev", help="start the whole system offline on its embedded defaults (make run)")
    return parser


# One BLAS thread per process: the engine's small matrix work gets slower, not faster, when
# BLAS threads oversubscribe the task's cores (measured 25x on 2 cores). Set before numpy loads.
_SINGLE_THREADED_BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _exit_cleanly_on_signals() -> None:
    """Until a service installs its own handling, SIGTERM/SIGINT end it with exit 0: a task that
    ECS stops while it is still importing has nothing to drain. Installed before the heavy
    imports; uvicorn also re-raises the signal through this handler after draining."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _raise_clean_exit)


def _raise_clean_exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    for variable in _SINGLE_THREADED_BLAS:
        os.environ.setdefault(variable, "1")
    args = build_parser().parse_args(argv)
    if args.command in SERVICES:
        _exit_cleanly_on_signals()
    if args.command == "gateway":
        from gateway.main import serve as serve_gateway

        return serve_gateway(args.host, args.port, args.workers)
    if args.command == "ingestor":
        from ingestor.main import serve as serve_ingestor

        return serve_ingestor()
    if args.command == "backtester":
        from backtester.main import serve as serve_backtester

        return serve_backtester()
    if args.command == "migrate":
        from cli.admin import migrate

        return migrate()
    if args.command == "seed":
        from cli.admin import seed

        return asyncio.run(seed(args.from_dir))
    if args.command == "send":
        from cli.admin import send

        try:
            body = json.loads(args.body)
        except json.JSONDecodeError as exc:
            print(f"insight-invest send: the body is not JSON: {exc}", file=sys.stderr)
            return 2
        return asyncio.run(send(body, local=args.local))
    if args.command == "local-sqs":
        from adapters.local_sqs import serve_forever

        serve_forever(host=args.host, port=args.port, allow_remote=args.allow_remote)
        return 0
    from cli.dev import run_dev_stack

    return run_dev_stack()


if __name__ == "__main__":
    raise SystemExit(main())
