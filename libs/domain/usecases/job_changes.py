"""Applying a job's transitions against concurrent writers.

A save based on a copy that another writer has saved since raises StaleJobVersion. The
writers of one job are few (its worker and that worker's heartbeat timer, a cancel, the
sweeper, a worker taking over), so the answer is to read the job again and apply the same
transition to what is stored now: the transition then decides whether the change still holds
(a claim that lost to another worker finds the job running and is refused, a cancel that lost
to a finish finds it succeeded and is a Conflict).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from domain.errors import NotFound, StaleJobVersion
from domain.model import BacktestJob
from domain.ports import JobRepository

# Each lost save means another writer made progress; this many in a row means something is
# looping, and StaleJobVersion (retryable) goes to the caller.
MAX_TRIES = 5

T = TypeVar("T")
Transition = Callable[[BacktestJob], BacktestJob]


async def change_job(jobs: JobRepository, job: BacktestJob, transition: Transition) -> BacktestJob:
    """Save ``transition(job)`` and return the saved job; when ``job`` is out of date, apply
    the transition to the stored job instead. Raises what the transition raises
    (IllegalJobTransition), and NotFound when the job is gone. A transition that changes
    nothing saves nothing."""
    for _ in range(MAX_TRIES - 1):
        changed = transition(job)
        if changed is job:
            return job
        try:
            return await jobs.save(changed)
        except StaleJobVersion:
            job = await _read_again(jobs, job)
    changed = transition(job)
    return job if changed is job else await jobs.save(changed)


async def retry_stale(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` (a unit of work that reads a job, changes it and commits) again from
    the start while its save loses to another writer's."""
    for _ in range(MAX_TRIES - 1):
        with contextlib.suppress(StaleJobVersion):
            return await attempt()
    return await attempt()


async def _read_again(jobs: JobRepository, job: BacktestJob) -> BacktestJob:
    stored = await jobs.get(job.id)
    if stored is None:
        raise NotFound(f"job {job.id} does not exist")
    return stored
