"""The backtest job's state machine: every transition, what it changes, and what it refuses."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import Conflict, IllegalJobTransition
from domain.model import BacktestJob, JobStatus

T0 = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
STALE_AFTER_S = 60.0


def queued_job(**kw: object) -> BacktestJob:
    return BacktestJob(
        id=uuid.uuid4(),
        status=JobStatus.QUEUED,
        spec={"strategy": {"type": "equal_weight"}},
        created_at=T0,
        updated_at=T0,
        **kw,  # type: ignore[arg-type]
    )


def running_job() -> BacktestJob:
    return queued_job().claim(T0, STALE_AFTER_S)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_claiming_a_queued_job_runs_it_as_a_first_attempt() -> None:
    job = queued_job()

    claimed = job.claim(at(5), STALE_AFTER_S)

    assert claimed.status is JobStatus.RUNNING and claimed.attempts == 1
    assert claimed.started_at == claimed.heartbeat_at == claimed.updated_at == at(5)
    assert job.status is JobStatus.QUEUED  # transitions are pure


def test_a_live_running_job_is_not_claimed_but_a_stale_one_is_taken_over() -> None:
    job = running_job()

    with pytest.raises(IllegalJobTransition):
        job.claim(at(STALE_AFTER_S), STALE_AFTER_S)  # silent for exactly the limit: alive
    taken = job.claim(at(STALE_AFTER_S + 1), STALE_AFTER_S)

    assert taken.attempts == 2 and taken.heartbeat_at == at(STALE_AFTER_S + 1)


def test_a_heartbeat_keeps_a_running_job_from_going_stale() -> None:
    job = running_job().heartbeat(at(50), progress=0.5)

    assert job.progress == 0.5 and job.heartbeat_at == job.updated_at == at(50)
    assert not job.is_stale(at(100), STALE_AFTER_S)
    assert job.is_stale(at(111), STALE_AFTER_S)
    with pytest.raises(IllegalJobTransition):
        job.claim(at(100), STALE_AFTER_S)


def test_a_heartbeat_without_progress_keeps_the_last_progress() -> None:
    job = running_job().heartbeat(at(1), progress=0.3).heartbeat(at(2))

    assert job.progress == 0.3 and job.heartbeat_at == at(2)


def test_staleness_falls_back_to_the_claim_and_then_the_last_change() -> None:
    claimed = replace(running_job(), heartbeat_at=None)
    assert claimed.last_seen_at == claimed.started_at
    never_started = replace(claimed, started_at=None, updated_at=at(30))
    assert never_started.last_seen_at == at(30)
    assert not queued_job().is_stale(at(3600), STALE_AFTER_S)  # only a running job is stale


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_finished_or_cancelled_job_is_never_claimed_again(status: JobStatus) -> None:
    job = replace(running_job(), status=status)

    with pytest.raises(IllegalJobTransition):
        job.claim(at(3600), STALE_AFTER_S)


def test_only_a_running_job_sends_heartbeats_or_finishes() -> None:
    for job in (queued_job(), running_job().succeed(at(1)), running_job().cancel(at(1))):
        with pytest.raises(IllegalJobTransition):
            job.heartbeat(at(2))
        with pytest.raises(IllegalJobTransition):
            job.succeed(at(2))
        with pytest.raises(IllegalJobTransition):
            job.fail(at(2), "boom")


def test_succeeding_and_failing_close_a_running_job() -> None:
    succeeded = running_job().succeed(at(10))
    failed = running_job().fail(at(10), "boom")

    assert (succeeded.status, succeeded.finished_at, succeeded.error) == (
        JobStatus.SUCCEEDED,
        at(10),
        None,
    )
    assert (failed.status, failed.finished_at, failed.error) == (JobStatus.FAILED, at(10), "boom")


def test_cancel_stops_a_queued_or_running_job_and_twice_is_harmless() -> None:
    for job in (queued_job(), running_job()):
        cancelled = job.cancel(at(7))
        assert cancelled.status is JobStatus.CANCELLED and cancelled.finished_at == at(7)
        assert cancelled.cancel(at(8)) is cancelled  # nothing changes, nothing to save


def test_cancelling_a_finished_job_is_a_conflict() -> None:
    for job in (running_job().succeed(at(1)), running_job().fail(at(1), "boom")):
        with pytest.raises(Conflict, match="already"):
            job.cancel(at(2))


def test_a_job_is_marked_enqueued_in_any_status() -> None:
    for job in (queued_job(), running_job(), running_job().succeed(at(1))):
        assert job.mark_enqueued(at(3)).enqueued_at == at(3)


def test_the_version_is_a_stamp_not_part_of_the_job() -> None:
    job = queued_job()

    assert replace(job, version=7) == job
