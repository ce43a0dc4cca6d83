"""Backtester faults on one stack (gateway + backtesters as real processes, one fresh
PostgreSQL database, the local SQS endpoint): a backtester SIGKILLed mid-job, one message
delivered twice to two backtester processes at once, and poison bodies on the queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.reliability.harness import FAST_ENV, TICKERS, ChaosStack, fetch, poll, prepare_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.sqs, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def stack(
    fresh_database: Callable[[], str], sqs_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChaosStack]:
    url = fresh_database()
    asyncio.run(prepare_database(url, ingest=TICKERS))
    stack = ChaosStack(
        database_url=url,
        sqs_endpoint=sqs_endpoint,
        direct_sqs=sqs_endpoint,
        log_dir=tmp_path_factory.mktemp("chaos-backtester") / "logs",
        extra_env=dict(FAST_ENV),
    )
    stack.start("gateway")
    stack.start("backtester")
    try:
        yield stack
    finally:
        stack.stop_all()


async def worker_started(stack: ChaosStack, name: str) -> None:
    await poll(
        lambda: asyncio.sleep(0, stack.logs(name)),
        lambda text: '"worker started"' in text,
        timeout_s=180,
        what=f"{name} to start",
    )


async def attempts(stack: ChaosStack, ids: list[str]) -> dict[str, int]:
    rows = await fetch(
        stack.database_url,
        "SELECT id::text AS id, attempts FROM backtest_jobs WHERE id = ANY($1::uuid[])",
        ids,
    )
    return {r["id"]: int(r["attempts"]) for r in rows}


async def kill_mid_job(stack: ChaosStack, ids: list[str], tries: int = 5) -> list[str]:
    """SIGKILL the backtester while it holds jobs; the jobs it leaves ``running`` are the ones
    it died in the middle of. Retried (restarting it) if every job happened to finish first."""
    for _ in range(tries):
        await poll(
            lambda: stack.job_states(ids),
            lambda states: "running" in states.values() or set(states.values()) == {"succeeded"},
            timeout_s=180,
            every_s=0.05,
            what="a running job",
        )
        stack.kill("backtester")
        orphans = [i for i, s in (await stack.job_states(ids)).items() if s == "running"]
        if orphans:
            return orphans
        stack.start("backtester")
    pytest.fail("never caught the backtester in the middle of a job")


async def test_backtester_killed_mid_job_is_redelivered_and_finishes_once(
    stack: ChaosStack, client: httpx.AsyncClient
) -> None:
    ids = await stack.submit(client, 20)
    orphans = await kill_mid_job(stack, ids)
    stack.start("backtester")

    await stack.check_invariants(ids)
    # The orphaned jobs were really taken over after the lease ran out, not left alone.
    retried = await attempts(stack, orphans)
    assert all(n >= 2 for n in retried.values()), retried


async def test_one_message_delivered_twice_concurrently_runs_once(
    stack: ChaosStack, client: httpx.AsyncClient
) -> None:
    stack.start("backtester-2", "backtester")
    await worker_started(stack, "backtester")
    await worker_started(stack, "backtester-2")

    ids = await stack.submit(client, 10, offset=100)
    # A second copy of every job's message, as SQS at-least-once delivery may produce: two
    # processes long-polling the queue take the two copies at the same time.
    await stack.send_raw(
        stack.backtest_queue,
        [json.dumps({"type": "run_backtest", "job_id": job_id}) for job_id in ids],
    )

    await stack.check_invariants(ids)
    # Both copies were consumed (nothing left to run later) and only one ran.
    depth = await poll(
        lambda: stack.queue_depth(stack.backtest_queue),
        lambda d: d["visible"] + d["in_flight"] + d["delayed"] == 0,
        timeout_s=120,
        what="the backtest queue to drain",
    )
    assert depth["dead_lettered"] == 0
    assert all(stack.completions()[i] == 1 for i in ids)
    stack.stop("backtester-2")


def poison_bodies() -> dict[str, str]:
    huge_universe = {"type": "run_backtest", "job_id": str(uuid.uuid4()), "pad": "x" * 200_000}
    return {
        "invalid_json": '{"type": "run_backtest", "job_id": ',
        "unknown_type": json.dumps({"type": "launch_rockets", "job_id": str(uuid.uuid4())}),
        "wrong_version": json.dumps(
            {"type": "run_backtest", "job_id": str(uuid.uuid4()), "version": 99}
        ),
        # As large as SQS accepts and far beyond what the contract allows.
        "oversized": json.dumps(huge_universe),
        # Valid JSON of a type this worker does not handle (an ingest command).
        "other_service": json.dumps({"type": "update_prices", "market": "US"}),
    }


async def test_poison_bodies_are_dead_lettered_with_a_reason_while_jobs_still_run(
    stack: ChaosStack, client: httpx.AsyncClient
) -> None:
    poison = poison_bodies()
    before = await stack.submit(client, 3, offset=200)
    await stack.send_raw(stack.backtest_queue, list(poison.values()))
    after = await stack.submit(client, 3, offset=300)

    await stack.check_invariants([*before, *after], poison=list(poison.values()))
    letters = await stack.dead_letters(stack.backtest_queue)
    reasons = {letter.body: letter.reason for letter in letters}
    assert all(reasons[body] for body in poison.values()), reasons
    # Dead-lettered at once (a permanent failure), not after exhausting the retries.
    assert all(letter.receive_count == 1 for letter in letters), letters
    assert stack.processes["backtester"].poll() is None, "the worker must keep serving"
