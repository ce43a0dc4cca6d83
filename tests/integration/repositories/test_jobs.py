"""JobRepository contract, over every implementation: compare-and-set status changes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from domain.errors import Conflict, NotFound
from domain.model import JobStatus
from domain.ports import Repositories
from tests.integration.repositories.conftest import T0, make_job

LEASE_S = 60.0


async def test_taken_idempotency_key_conflicts_and_the_original_is_findable(
    repos: Repositories,
) -> None:
    original = await repos.jobs.add(make_job(idempotency_key="key-1", request_hash="h1"))

    with pytest.raises(Conflict):
        await repos.jobs.add(make_job(idempotency_key="key-1", request_hash="h2"))

    assert await repos.jobs.by_idempotency_key("key-1") == original


async def test_job_round_trips_with_its_spec(repos: Repositories) -> None:
    job = make_job(owner="team-a", spec={"universe": [1, "SPY"], "fee_bps": 5.5, "x": None})
    await repos.jobs.add(job)
    assert await repos.jobs.get(job.id) == job
    assert await repos.jobs.get(uuid.uuid4()) is None


async def test_concurrent_claims_have_exactly_one_winner(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())

    results = await asyncio.gather(*(repos.jobs.claim(job.id, T0, LEASE_S) for _ in range(4)))

    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].status == JobStatus.RUNNING and winners[0].attempts == 1


async def test_a_live_running_job_is_not_claimed_but_a_stale_one_is_taken_over(
    repos: Repositories,
) -> None:
    job = await repos.jobs.add(make_job())
    await repos.jobs.claim(job.id, T0, LEASE_S)

    assert await repos.jobs.claim(job.id, T0 + timedelta(seconds=30), LEASE_S) is None
    taken = await repos.jobs.claim(job.id, T0 + timedelta(seconds=61), LEASE_S)

    assert taken is not None and taken.attempts == 2
    assert taken.heartbeat_at == T0 + timedelta(seconds=61)


async def test_heartbeat_keeps_a_job_alive_and_reports_its_status(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())
    await repos.jobs.claim(job.id, T0, LEASE_S)

    status = await repos.jobs.heartbeat(job.id, T0 + timedelta(seconds=50), progress=0.5)

    assert status == JobStatus.RUNNING
    assert await repos.jobs.claim(job.id, T0 + timedelta(seconds=70), LEASE_S) is None
    stored = await repos.jobs.get(job.id)
    assert stored is not None and stored.progress == 0.5
    assert await repos.jobs.heartbeat(uuid.uuid4(), T0) is None


async def test_finish_only_moves_a_running_job(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())
    assert not await repos.jobs.finish(job.id, JobStatus.SUCCEEDED, T0)
    await repos.jobs.claim(job.id, T0, LEASE_S)

    assert await repos.jobs.finish(job.id, JobStatus.FAILED, T0, error="boom")
    assert not await repos.jobs.finish(job.id, JobStatus.SUCCEEDED, T0)

    stored = await repos.jobs.get(job.id)
    assert stored is not None and stored.status == JobStatus.FAILED and stored.error == "boom"
    assert await repos.jobs.claim(job.id, T0 + timedelta(hours=1), LEASE_S) is None


async def test_cancel_stops_a_running_job_and_tells_its_worker(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())
    await repos.jobs.claim(job.id, T0, LEASE_S)

    cancelled = await repos.jobs.cancel(job.id, T0)

    assert cancelled.status == JobStatus.CANCELLED and cancelled.finished_at == T0
    assert await repos.jobs.heartbeat(job.id, T0) == JobStatus.CANCELLED
    assert not await repos.jobs.finish(job.id, JobStatus.SUCCEEDED, T0)
    assert (await repos.jobs.cancel(job.id, T0)).status == JobStatus.CANCELLED


async def test_cancelling_a_finished_job_conflicts(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())
    await repos.jobs.claim(job.id, T0, LEASE_S)
    await repos.jobs.finish(job.id, JobStatus.SUCCEEDED, T0)

    with pytest.raises(Conflict):
        await repos.jobs.cancel(job.id, T0)
    with pytest.raises(NotFound):
        await repos.jobs.cancel(uuid.uuid4(), T0)


async def test_jobs_list_newest_first_across_pages(repos: Repositories) -> None:
    jobs = [await repos.jobs.add(make_job(T0 + timedelta(minutes=i))) for i in range(5)]
    # Two jobs created in the same instant still page deterministically.
    jobs.append(await repos.jobs.add(make_job(T0 + timedelta(minutes=4))))

    seen, cursor = [], None
    while True:
        page = await repos.jobs.list(None, 4, cursor)
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert len(seen) == 6 and len({j.id for j in seen}) == 6
    assert [j.created_at for j in seen] == sorted((j.created_at for j in jobs), reverse=True)


async def test_jobs_list_filters_by_status(repos: Repositories) -> None:
    running = await repos.jobs.add(make_job())
    await repos.jobs.add(make_job())
    await repos.jobs.claim(running.id, T0, LEASE_S)

    page = await repos.jobs.list(JobStatus.RUNNING, 10, None)

    assert [j.id for j in page.items] == [running.id] and page.next_cursor is None


async def test_sweeper_sees_queued_jobs_never_or_long_ago_enqueued(repos: Repositories) -> None:
    never = await repos.jobs.add(make_job(T0))
    long_ago = await repos.jobs.add(make_job(T0 + timedelta(seconds=1)))
    recent = await repos.jobs.add(make_job(T0 + timedelta(seconds=2)))
    await repos.jobs.mark_enqueued(long_ago.id, T0)
    await repos.jobs.mark_enqueued(recent.id, T0 + timedelta(minutes=10))

    stale = await repos.jobs.stale_queued(T0 + timedelta(minutes=5), limit=10)

    assert [j.id for j in stale] == [never.id, long_ago.id]


async def test_count_active_counts_queued_and_running_jobs_of_one_owner(
    repos: Repositories,
) -> None:
    done = await repos.jobs.add(make_job(owner="a"))
    running = await repos.jobs.add(make_job(owner="a"))
    await repos.jobs.add(make_job(owner="a"))
    await repos.jobs.add(make_job(owner="b"))
    for job in (done, running):
        await repos.jobs.claim(job.id, T0, LEASE_S)
    await repos.jobs.finish(done.id, JobStatus.SUCCEEDED, T0)

    assert await repos.jobs.count_active("a") == 2
    assert await repos.jobs.count_active(None) == 0
