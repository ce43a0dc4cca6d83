"""Soak benchmark: ``make soak`` (``python -m bench.soak``).

The whole system as processes on one machine: the gateway, two backtesters and one ingestor
against a fresh PostgreSQL database (server: ``TEST_DATABASE_URL`` or the local one; created
and dropped here) and a moto SQS server on loopback. While an ingestion backfill of the whole
shipped universe runs (``full_refresh``), ``SOAK_JOBS`` backtests (default 2,000) are submitted
at a steady ``SOAK_RATE`` per second through the API, and a poller follows every open job's
status the way clients do.

Reported: jobs/s sustained (first submission to last success), submit→succeeded latency
p50/p95/p99 (from the job rows' ``created_at``/``finished_at``), the deepest backtest queue
seen, each process's RSS at start and end (growth must stay under 10 %), and errors (non-2xx
answers, transport errors, failed jobs, dead letters: must be 0). moto is far slower than SQS
on deep queues, so throughput here is a floor for this box, never an SQS figure.

Results go to ``bench/results/soak.json``; the last line printed is the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.reliability_report import regenerate as regenerate_reliability_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "soak.json"

JOBS = int(os.environ.get("SOAK_JOBS", "2000"))
RATE = float(os.environ.get("SOAK_RATE", "1"))
TIMEOUT_S = float(os.environ.get("SOAK_TIMEOUT_S", str(max(600.0, JOBS * 1.5))))
MAX_RSS_GROWTH = 0.10
WARM_JOBS = max(10, JOBS // 10)
SERVICES = {
    "gateway": "gateway",
    "backtester-1": "backtester",
    "backtester-2": "backtester",
    "ingestor": "ingestor",
}
SPEC_TICKERS = ("SPY", "QQQ", "EFA", "TLT", "IEF", "GLD", "AGG", "VNQ")


def job_spec(i: int) -> dict[str, Any]:
    universe = [SPEC_TICKERS[(i + k) % len(SPEC_TICKERS)] for k in range(3)]
    strategy = (
        {"type": "equal_weight", "params": {}}
        if i % 2
        else {"type": "dual_momentum", "params": {"top_n": 1, "lookback_months": 12}}
    )
    return {
        "name": f"soak-{i}",
        "strategy": strategy,
        "universe": universe,
        "start": "2010-01-01",
        "end": "2020-12-31",
        "rebalance": "M",
        "benchmark": "SPY",
    }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 3)


class WarmSample:
    """RSS once the first ``after`` jobs finished: imports, caches and pools are warm, so growth
    from here to the end is what a leak would show (growth from idle is mostly warm-up)."""

    def __init__(self, pids: dict[str, int], after: int) -> None:
        self.pids = pids
        self.after = after
        self.finished = 0
        self.rss: dict[str, float] = {}

    def finished_one(self) -> None:
        self.finished += 1
        if self.finished == self.after:
            self.rss = {name: rss_mb(pid) for name, pid in self.pids.items()}


class Errors:
    def __init__(self) -> None:
        self.by_kind: dict[str, int] = {}

    def add(self, kind: str) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@contextlib.contextmanager
def environment() -> Iterator[tuple[str, str, str]]:
    """(admin URL, fresh database URL, SQS endpoint); everything torn down on exit."""
    from tests.support.postgres import create_database, drop_database, find_or_start_server
    from tests.support.sqs import TEST_AWS_ENV, local_sqs_endpoint

    os.environ.update(TEST_AWS_ENV)
    server = find_or_start_server()
    url = asyncio.run(create_database(server.admin_url, prefix="ii_soak"))
    try:
        with local_sqs_endpoint() as endpoint:
            yield server.admin_url, url, endpoint
    finally:
        asyncio.run(drop_database(server.admin_url, url))
        server.close()


def rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


async def submit_steadily(
    client: httpx.AsyncClient, open_jobs: dict[str, float], errors: Errors
) -> list[str]:
    """Open loop: the i-th submission is scheduled at i / RATE, whatever the server does."""
    ids: list[str] = []
    start = time.monotonic()
    for i in range(JOBS):
        delay = start + i / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            answer = await client.post("/v1/backtests", json=job_spec(i))
        except httpx.HTTPError:
            errors.add("submit_transport")
            continue
        if answer.status_code != 202:
            errors.add(f"submit_{answer.status_code}")
            continue
        job_id = answer.json()["id"]
        ids.append(job_id)
        open_jobs[job_id] = time.monotonic()
    return ids


async def poll_statuses(
    client: httpx.AsyncClient,
    open_jobs: dict[str, float],
    errors: Errors,
    stop: asyncio.Event,
    warm: WarmSample,
) -> int:
    """What clients do: GET each open job about once a second until it is terminal."""
    polls = 0
    while not (stop.is_set() and not open_jobs):
        for job_id in list(open_jobs)[:50]:
            try:
                answer = await client.get(f"/v1/backtests/{job_id}")
            except httpx.HTTPError:
                errors.add("poll_transport")
                continue
            polls += 1
            if answer.status_code != 200:
                errors.add(f"poll_{answer.status_code}")
                continue
            status = answer.json()["status"]
            if status in {"succeeded", "failed", "cancelled"}:
                open_jobs.pop(job_id, None)
                warm.finished_one()
                if status != "succeeded":
                    errors.add(f"job_{status}")
        await asyncio.sleep(1.0)
    return polls


async def sample_depth(endpoint: str, queue_name: str, stop: asyncio.Event) -> int:
    from adapters.sqs import SqsConnection

    deepest = 0
    async with SqsConnection(endpoint, "us-east-1") as connection:
        queue = await connection.queue(queue_name)
        while not stop.is_set():
            with contextlib.suppress(Exception):  # a missed sample is not a soak error
                depth = await queue.depth()
                deepest = max(deepest, depth["visible"] + depth["in_flight"] + depth["delayed"])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
    return deepest


async def latencies(url: str, ids: list[str]) -> list[float]:
    from tests.reliability.harness import fetch

    rows = await fetch(
        url,
        "SELECT extract(epoch FROM finished_at - created_at) AS s FROM backtest_jobs "
        "WHERE id = ANY($1::uuid[]) AND status = 'succeeded'",
        ids,
    )
    return [float(r["s"]) for r in rows]


async def drive(stack: Any, endpoint: str, warm: WarmSample) -> dict[str, Any]:
    from tests.reliability.harness import poll

    errors = Errors()
    open_jobs: dict[str, float] = {}
    stop = asyncio.Event()
    backfill = {"type": "update_prices", "market": "US", "full_refresh": True}
    await stack.send_raw(stack.ingest_queue, [json.dumps(backfill)])
    depth_task = asyncio.create_task(sample_depth(endpoint, stack.backtest_queue, stop))
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        poller = asyncio.create_task(poll_statuses(client, open_jobs, errors, stop, warm))
        started = time.monotonic()
        ids = await submit_steadily(client, open_jobs, errors)
        stop.set()
        polls = await asyncio.wait_for(poller, TIMEOUT_S)
        elapsed = time.monotonic() - started
    deepest = await depth_task
    states = await stack.job_states(ids)
    lat = await latencies(stack.database_url, ids)
    succeeded = sum(1 for s in states.values() if s == "succeeded")
    dead = len(await stack.dead_letters(stack.backtest_queue)) + len(
        await stack.dead_letters(stack.ingest_queue)
    )
    if dead:
        errors.by_kind["dead_letters"] = dead
    await poll(
        lambda: stack.queue_depth(stack.ingest_queue),
        lambda d: d["visible"] + d["in_flight"] + d["delayed"] == 0,
        timeout_s=TIMEOUT_S,
        what="the backfill to finish",
    )
    return {
        "jobs_submitted": len(ids),
        "jobs_succeeded": succeeded,
        "jobs_per_s": round(succeeded / elapsed, 2),
        "elapsed_s": round(elapsed, 1),
        "latency_s": {
            "p50": percentile(lat, 50),
            "p95": percentile(lat, 95),
            "p99": percentile(lat, 99),
            "max": round(max(lat), 3) if lat else None,
            "mean": round(statistics.fmean(lat), 3) if lat else None,
        },
        "max_queue_depth": deepest,
        "status_polls": polls,
        "errors": errors.total,
        "errors_by_kind": errors.by_kind,
    }


def main() -> int:
    from tests.reliability.harness import ChaosStack, prepare_database

    with environment() as (_, url, endpoint):
        asyncio.run(prepare_database(url, ingest=SPEC_TICKERS))
        log_dir = Path(tempfile.mkdtemp(prefix="ii-soak-logs-"))
        stack = ChaosStack(
            database_url=url,
            sqs_endpoint=endpoint,
            direct_sqs=endpoint,
            log_dir=log_dir,
            extra_env={
                "WORKER_WAIT_SECONDS": "2",
                "WORKER_CONCURRENCY": "4",
                "WORKER_LEASE_SECONDS": "30",
                # The soak stands for many clients; one anonymous caller would hit the
                # per-key queued-jobs quota (429 backpressure) whenever the box falls behind.
                "MAX_ACTIVE_JOBS_PER_KEY": "1000000",
            },
        )
        try:
            for name, command in SERVICES.items():
                stack.start(name, command)
            asyncio.run(stack.wait_ready(timeout_s=300))
            asyncio.run(_wait_workers(stack))
            rss_start = {n: rss_mb(p.pid) for n, p in stack.processes.items()}
            warm = WarmSample({n: p.pid for n, p in stack.processes.items()}, WARM_JOBS)
            figures = asyncio.run(drive(stack, endpoint, warm))
            rss_end = {n: rss_mb(p.pid) for n, p in stack.processes.items()}
        finally:
            exits = stack.stop_all()
    baseline = warm.rss or rss_start
    growth = {n: round(rss_end[n] / baseline[n] - 1, 3) for n in rss_start}
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "config": {"jobs": JOBS, "rate_per_s": RATE, "backtesters": 2, "worker_concurrency": 4},
        **figures,
        "rss_mb": {
            "idle": rss_start,
            "start": baseline,
            "end": rss_end,
            "growth": growth,
            "start_is": f"after the first {WARM_JOBS} jobs finished" if warm.rss else "idle",
        },
        "rss_growth_ok": all(g <= MAX_RSS_GROWTH for g in growth.values()),
        "exit_codes": exits,
        "note": "moto SQS on loopback, all processes on one shared 2-core box: a floor.",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    regenerate_reliability_report()
    lat = figures["latency_s"]
    ok = figures["errors"] == 0 and report["rss_growth_ok"]
    print(
        f"soak {'OK' if ok else 'FAILED'}: {figures['jobs_succeeded']}/{JOBS} jobs, "
        f"{figures['jobs_per_s']} jobs/s, p50/p95/p99 {lat['p50']}/{lat['p95']}/{lat['p99']} s, "
        f"max depth {figures['max_queue_depth']}, errors {figures['errors']}, "
        f"max RSS growth {max(growth.values()):.1%} -> {RESULTS.relative_to(ROOT)}"
    )
    return 0 if ok else 1


async def _wait_workers(stack: Any) -> None:
    from tests.reliability.harness import poll

    for name in SERVICES:
        if name == "gateway":
            continue
        await poll(
            lambda name=name: asyncio.sleep(0, stack.logs(name)),
            lambda text: '"worker started"' in text,
            timeout_s=300,
            what=f"{name} to start",
        )


if __name__ == "__main__":
    sys.exit(main())
