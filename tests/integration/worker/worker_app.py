"""A worker process for the process-level tests: the real runtime over SQS (moto), with a
``run_backtest`` handler that records its deliveries and applies its effect idempotently.

    python -m tests.integration.worker.worker_app --endpoint URL --queue NAME --db FILE

The effect is a row keyed by job id, written only if absent: the same idempotency-by-natural-key
the real handlers rely on, so a redelivered message never applies its effect twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from pathlib import Path

from adapters.sqs import SqsConnection
from adapters.worker import (
    MessageContext,
    Worker,
    WorkerSettings,
    configure_json_logging,
    run_until_signalled,
)
from domain.messages import RunBacktest

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (job_id TEXT, receive_count INTEGER, pid INTEGER);
CREATE TABLE IF NOT EXISTS effects (job_id TEXT PRIMARY KEY, pid INTEGER);
"""


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def build_handler(db: Path, sleep_s: float, first_delivery_sleep_s: float):  # type: ignore[no-untyped-def]
    conn = connect(db)

    async def run_backtest(message: RunBacktest, context: MessageContext) -> None:
        key = str(message.job_id)
        conn.execute(
            "INSERT INTO deliveries VALUES (?, ?, ?)", (key, context.receive_count, os.getpid())
        )
        await asyncio.sleep(first_delivery_sleep_s if context.receive_count == 1 else sleep_s)
        conn.execute("INSERT OR IGNORE INTO effects VALUES (?, ?)", (key, os.getpid()))

    return run_backtest


async def main(args: argparse.Namespace) -> None:
    settings = WorkerSettings(
        concurrency=2,
        wait_s=1,
        lease_s=args.lease,
        shutdown_grace_s=args.grace,
        retry_base_s=0,
        retry_max_s=0,
    )
    handler = build_handler(Path(args.db), args.sleep, args.first_sleep)
    async with SqsConnection(args.endpoint, "us-east-1") as connection:
        queue = await connection.queue(args.queue)
        await run_until_signalled(Worker(queue, {"run_backtest": handler}, settings))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--lease", type=int, default=2)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--sleep", type=float, default=0.0, help="handler time per delivery")
    parser.add_argument("--first-sleep", type=float, default=0.0, help="on the first delivery")
    configure_json_logging("INFO")
    asyncio.run(main(parser.parse_args()))
