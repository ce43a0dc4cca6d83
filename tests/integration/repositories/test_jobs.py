"""JobRepository and UnitOfWork contracts, over every implementation: jobs are saved with
optimistic concurrency (a save based on an old read is refused), every transition's changes
are stored, and a unit of work stores a job and its result together or not at all."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import Conflict, IllegalJobTransition, NotFound, StaleJobVersion
from domain.model import BacktestJob, BacktestResult, JobStatus
from domain.ports import Repositories
from domain.usecases.job_changes import change_job
from tests.integration.repositories.conftest import T0, Backend, make_job

LEASE_S = 60.0


async def running(repos: Repositories, **kw: object) -> BacktestJob:
    job = await repos.jobs.add(make_job(**kw))
    return await repos.jobs.save(job.claim(T0, LEASE_S))


def result_of(job_id: uuid.UUID) -> BacktestResult:
    return BacktestResult(
        job_id=job_id,
        metrics={"cagr": 0.1},
        nav={"dates": ["2024-01-02"], "values": [1000.0]},
        created_at=T0,
    )


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


async def test_every_save_bumps_the_version_and_stores_the_transition(
    repos: Repositories,
) -> None:
    job = await repos.jobs.add(make_job())
    assert (await repos.jobs.get(job.id)).version == job.version == 0  # type: ignore[union-attr]

    claimed = await repos.jobs.save(job.claim(T0, LEASE_S))
    beat = await repos.jobs.save(claimed.heartbeat(T0 + timedelta(seconds=50), progress=0.5))
    done = await repos.jobs.save(beat.fail(T0 + timedelta(seconds=55), "boom"))

    stored = await repos.jobs.get(job.id)
    assert [claimed.version, beat.version, done.version] == [1, 2, 3]
    assert stored == done and stored is not None and stored.version == 3
    assert (stored.status, stored.attempts, stored.progress, stored.error) == (
        JobStatus.FAILED,
        1,
        0.5,
        "boom",
    )
    assert stored.heartbeat_at == T0 + timedelta(seconds=50)
    assert stored.finished_at == T0 + timedelta(seconds=55)


async def test_a_save_based_on_an_old_read_is_refused(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())
    mine, theirs = await repos.jobs.get(job.id), await repos.jobs.get(job.id)
    assert mine is not None and theirs is not None

    saved = await repos.jobs.save(theirs.claim(T0, LEASE_S))
    with pytest.raises(StaleJobVersion):
        await repos.jobs.save(mine.cancel(T0))

    assert await repos.jobs.get(job.id) == saved
    with pytest.raises(NotFound):
        await repos.jobs.save(make_job())


async def test_a_save_never_changes_what_a_job_was_created_with(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job(owner="a"))

    await repos.jobs.save(replace(job.mark_enqueued(T0), owner="b", spec={"changed": True}))

    stored = await repos.jobs.get(job.id)
    assert stored is not None and stored.enqueued_at == T0
    assert (stored.owner, stored.spec) == ("a", job.spec)


async def test_concurrent_claims_have_exactly_one_winner(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())

    outcomes = await asyncio.gather(
        *(change_job(repos.jobs, job, lambda j: j.claim(T0, LEASE_S)) for _ in range(4)),
        return_exceptions=True,
    )

    winners = [o for o in outcomes if isinstance(o, BacktestJob)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, IllegalJobTransition) for o in outcomes if o not in winners)
    assert winners[0].status == JobStatus.RUNNING and winners[0].attempts == 1
    assert await repos.jobs.get(job.id) == winners[0]


async def test_a_cancel_that_lost_to_a_finish_answers_as_the_finished_job(
    repos: Repositories,
) -> None:
    job = await running(repos)
    await repos.jobs.save((await repos.jobs.get(job.id)).succeed(T0))  # type: ignore[union-attr]

    with pytest.raises(Conflict, match="already succeeded"):
        await change_job(repos.jobs, job, lambda j: j.cancel(T0))


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
    job = await running(repos)
    await repos.jobs.add(make_job())

    page = await repos.jobs.list(JobStatus.RUNNING, 10, None)

    assert [j.id for j in page.items] == [job.id] and page.next_cursor is None
    assert page.items[0].version == job.version


async def test_sweeper_sees_queued_jobs_never_or_long_ago_enqueued(repos: Repositories) -> None:
    never = await repos.jobs.add(make_job(T0))
    long_ago = await repos.jobs.add(make_job(T0 + timedelta(seconds=1)))
    recent = await repos.jobs.add(make_job(T0 + timedelta(seconds=2)))
    await repos.jobs.save(long_ago.mark_enqueued(T0))
    await repos.jobs.save(recent.mark_enqueued(T0 + timedelta(minutes=10)))

    stale = await repos.jobs.stale_queued(T0 + timedelta(minutes=5), limit=10)

    assert [j.id for j in stale] == [never.id, long_ago.id]


async def test_count_active_counts_queued_and_running_jobs_of_one_owner(
    repos: Repositories,
) -> None:
    done = await running(repos, owner="a")
    await running(repos, owner="a")
    await repos.jobs.add(make_job(owner="a"))
    await repos.jobs.add(make_job(owner="b"))
    await repos.jobs.save(done.succeed(T0))

    assert await repos.jobs.count_active("a") == 2
    assert await repos.jobs.count_active(None) == 0


# --- unit of work ------------------------------------------------------------------------


async def test_a_unit_of_work_stores_the_result_and_the_finished_job_together(
    repos: Repositories,
) -> None:
    job = await running(repos)

    async with repos.unit_of_work() as uow:
        stored = await uow.jobs.get(job.id)
        assert stored is not None
        await uow.results.save(result_of(job.id))
        await uow.jobs.save(stored.succeed(T0))
        await uow.commit()

    finished = await repos.jobs.get(job.id)
    assert finished is not None and finished.status is JobStatus.SUCCEEDED
    assert await repos.results.get(job.id) == result_of(job.id)


async def test_a_unit_of_work_left_without_commit_stores_nothing(repos: Repositories) -> None:
    job = await running(repos)

    with pytest.raises(RuntimeError):
        async with repos.unit_of_work() as uow:
            await uow.results.save(result_of(job.id))
            await uow.jobs.save(job.succeed(T0))
            raise RuntimeError("the worker stopped before it committed")
    async with repos.unit_of_work() as uow:
        await uow.jobs.save(job.fail(T0, "never committed"))

    assert await repos.jobs.get(job.id) == job
    assert await repos.results.get(job.id) is None


async def test_a_result_that_cannot_be_saved_leaves_the_job_running(repos: Repositories) -> None:
    job = await running(repos)

    with pytest.raises(NotFound):
        async with repos.unit_of_work() as uow:
            await uow.jobs.save(job.succeed(T0))
            await uow.results.save(result_of(uuid.uuid4()))  # no such job: refused
            await uow.commit()

    stored = await repos.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.RUNNING and stored.finished_at is None


async def test_a_unit_of_work_that_saves_an_old_read_stores_nothing(repos: Repositories) -> None:
    job = await running(repos)
    beat = await repos.jobs.save(job.heartbeat(T0 + timedelta(seconds=1)))  # another writer

    with pytest.raises(StaleJobVersion):
        async with repos.unit_of_work() as uow:
            await uow.results.save(result_of(job.id))
            await uow.jobs.save(job.succeed(T0))
            await uow.commit()

    assert await repos.jobs.get(job.id) == beat
    assert await repos.results.get(job.id) is None


async def test_of_two_interleaved_units_the_first_to_commit_wins(backend: Backend) -> None:
    if backend.name == "sqlite":
        pytest.skip("SQLite takes the write lock when a unit begins: units never interleave")
    repos = backend.repos
    job = await running(repos)

    first, second = repos.unit_of_work(), repos.unit_of_work()
    async with first, second:
        mine, theirs = await first.jobs.get(job.id), await second.jobs.get(job.id)
        assert mine is not None and theirs is not None
        await second.jobs.save(theirs.cancel(T0))
        await second.commit()
        with pytest.raises(StaleJobVersion):
            await first.results.save(result_of(job.id))
            await first.jobs.save(mine.succeed(T0))
            await first.commit()

    stored = await repos.jobs.get(job.id)
    assert stored is not None and stored.status is JobStatus.CANCELLED
    assert await repos.results.get(job.id) is None
