"""Ingestor, SQS and deploy faults on one stack whose services reach SQS through a fault proxy:
the ingestor SIGKILLed mid-batch, the SQS endpoint unreachable for 10 s, and a deploy-like
rolling restart (SIGTERM) of every service while jobs are in flight (200 under CHAOS_HEAVY)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.reliability.conftest import HEAVY, INGEST_TICKERS
from tests.reliability.harness import (
    FAST_ENV,
    TICKERS,
    ChaosStack,
    fetch,
    job_spec,
    poll,
    prepare_database,
    price_fingerprint,
)
from tests.support.faults import TcpFaultProxy, fault_proxy

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.sqs, pytest.mark.timeout(900)]

OUTAGE_S = 10.0
ROLLING_JOBS = 200 if HEAVY else 24


@pytest.fixture(scope="module")
def proxy(sqs_endpoint: str) -> Iterator[TcpFaultProxy]:
    with fault_proxy(sqs_endpoint) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def stack(
    fresh_database: Callable[[], str],
    sqs_endpoint: str,
    proxy: TcpFaultProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ChaosStack]:
    url = fresh_database()
    asyncio.run(prepare_database(url, ingest=TICKERS))
    stack = ChaosStack(
        database_url=url,
        sqs_endpoint=proxy.url,
        direct_sqs=sqs_endpoint,
        log_dir=tmp_path_factory.mktemp("chaos-dependencies") / "logs",
        # Two assets per batch: a market command fans out into several child messages.
        extra_env={**FAST_ENV, "INGEST_BATCH_SIZE": "2"},
    )
    for name in ("gateway", "backtester", "ingestor"):
        stack.start(name)
    try:
        yield stack
    finally:
        proxy.restore()
        stack.stop_all()


async def open_runs(stack: ChaosStack) -> int:
    rows = await fetch(
        stack.database_url, "SELECT count(*) AS n FROM ingestion_runs WHERE status = 'running'"
    )
    return int(rows[0]["n"])


async def wait_clean_prices(
    stack: ChaosStack, clean: dict[str, tuple[int, str]], tickers: tuple[str, ...]
) -> None:
    expected = {t: clean[t] for t in tickers}
    await poll(
        lambda: price_fingerprint(stack.database_url, tickers),
        lambda found: found == expected,
        timeout_s=300,
        what="prices equal to the clean run's",
    )
    await poll(lambda: open_runs(stack), lambda n: n == 0, timeout_s=120, what="runs to close")


async def test_ingestor_killed_mid_batch_leaves_no_half_written_asset_and_rerun_completes(
    stack: ChaosStack, client: httpx.AsyncClient, clean_prices: dict[str, tuple[int, str]]
) -> None:
    tickers = INGEST_TICKERS
    command = {"type": "update_prices", "market": "US", "tickers": list(tickers)}
    await stack.send_raw(stack.ingest_queue, [json.dumps(command)])
    # Kill as soon as the first asset landed: the rest of the batch is in flight.
    await poll(
        lambda: price_fingerprint(stack.database_url, tickers),
        lambda found: len(found) > 0,
        timeout_s=240,
        every_s=0.05,
        what="the first asset to land",
    )
    stack.kill("ingestor")

    landed = await price_fingerprint(stack.database_url, tickers)
    half_written = {t: v for t, v in landed.items() if v != clean_prices[t]}
    assert not half_written, f"assets half-written by the killed ingestor: {half_written}"

    stack.start("ingestor")
    await wait_clean_prices(stack, clean_prices, tickers)
    await stack.check_invariants([])


async def test_sqs_outage_loses_no_job_and_workers_recover_without_restart(
    stack: ChaosStack, client: httpx.AsyncClient, proxy: TcpFaultProxy
) -> None:
    before = await stack.submit(client, 4, offset=400)
    proxy.cut()
    accepted: list[str] = []
    refused = 0
    try:
        # Submissions while the queue is unreachable: each is either refused (nothing stored
        # that would never run) or accepted and then run once the queue is back.
        for i in range(4):
            answer = await client.post("/v1/backtests", json=job_spec(500 + i))
            if answer.status_code == 202:
                accepted.append(answer.json()["id"])
            else:
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")
                refused += 1
        ready = await client.get("/health/ready")
        assert ready.status_code == 503, ready.text
        await asyncio.sleep(OUTAGE_S)  # the length of the fault, not an assertion
    finally:
        proxy.restore()
    await poll(
        lambda: client.get("/health/ready"),
        lambda r: r.status_code == 200,
        timeout_s=60,
        what="ready again",
    )
    after = await stack.submit(client, 4, offset=600)

    # Every job row in the database (including any a refused request left behind) finishes.
    rows = await fetch(stack.database_url, "SELECT id::text AS id FROM backtest_jobs")
    await stack.check_invariants([r["id"] for r in rows])
    assert set(before + accepted + after) <= {r["id"] for r in rows}
    for name in ("backtester", "ingestor", "gateway"):
        assert stack.processes[name].poll() is None, f"{name} died during the outage"


async def submit_steadily(stack: ChaosStack, count: int, every_s: float, offset: int) -> list[str]:
    """A client that retries through the gateway's restart with the same Idempotency-Key (so a
    retried submission never creates a second job)."""
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        for i in range(offset, offset + count):
            key = f"rolling-{uuid.uuid4()}"
            while True:
                try:
                    answer = await client.post(
                        "/v1/backtests", json=job_spec(i), headers={"Idempotency-Key": key}
                    )
                    if answer.status_code in (200, 201, 202):
                        ids.append(answer.json()["id"])
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5)
            await asyncio.sleep(every_s)
    return ids


async def wait_worker_started(stack: ChaosStack, name: str, seen: int) -> None:
    await poll(
        lambda: asyncio.sleep(0, stack.logs(name).count('"worker started"')),
        lambda n: n > seen,
        timeout_s=180,
        what=f"{name} to start again",
    )


async def test_rolling_restart_with_jobs_in_flight_runs_every_job_exactly_once(
    stack: ChaosStack, client: httpx.AsyncClient
) -> None:
    stack.start("backtester-2", "backtester")
    submitter = asyncio.create_task(
        submit_steadily(stack, ROLLING_JOBS, every_s=0.1 if HEAVY else 0.3, offset=1000)
    )
    # One service at a time, as ECS replaces tasks: SIGTERM, clean exit 0, new process up.
    for name in ("backtester", "backtester-2", "ingestor"):
        seen = stack.logs(name).count('"worker started"')
        stack.restart(name, "backtester" if name.startswith("backtester") else name)
        await wait_worker_started(stack, name, seen)
    stack.restart("gateway")
    await stack.wait_ready()
    ids = await submitter

    assert len(ids) == len(set(ids)) == ROLLING_JOBS
    await stack.check_invariants(ids, timeout_s=900 if HEAVY else 240)
    exits = stack.stop_all()
    assert set(exits.values()) == {0}, exits
