"""RunBacktestJob: claims once, stores one result, fails with a reason, honours cancellation."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from adapters.clock import ManualClock
from adapters.memory import build_memory_repositories
from domain.model import BacktestJob, JobStatus, MacroFrequency, MacroSeries
from domain.usecases.run_backtest import RunBacktestJob
from tests.unit.usecases.factories import bars, business_days, us_asset

SPEC = {
    "strategy": {"type": "equal_weight", "params": {}},
    "universe": ["SPY", "IEF"],
    "start": "2020-02-01",
    "end": "2020-12-31",
    "rebalance": "M",
    "benchmark": "SPY",
}


@pytest.fixture
async def world():
    repos = build_memory_repositories()
    clock = ManualClock()
    spy, ief = await repos.assets.upsert_many([us_asset("SPY"), us_asset("IEF")])
    days = business_days("2019-01-01", "2020-12-31")
    await repos.prices.upsert(spy.id, bars(days, seed=1))
    await repos.prices.upsert(ief.id, bars(days, seed=2))
    return repos, clock, RunBacktestJob(repositories=repos, clock=clock)


async def queued(repos, clock, spec=SPEC) -> BacktestJob:
    now = clock.now()
    job = BacktestJob(
        id=uuid.uuid4(), status=JobStatus.QUEUED, spec=spec, created_at=now, updated_at=now
    )
    return await repos.jobs.add(job)


async def test_a_job_runs_once_and_stores_its_result(world):
    repos, clock, run_job = world
    job = await queued(repos, clock)

    assert await run_job(job.id) is JobStatus.SUCCEEDED
    result = await repos.results.get(job.id)
    stored = await repos.jobs.get(job.id)

    assert stored.status is JobStatus.SUCCEEDED and stored.attempts == 1
    assert result.nav["dates"][0] >= "2020-02-01" and len(result.nav["values"]) == len(
        result.nav["dates"]
    )
    assert result.metrics["total_return"] == pytest.approx(
        result.nav["values"][-1] / result.nav["values"][0] - 1
    )


async def test_a_redelivered_message_for_a_finished_job_changes_nothing(world):
    repos, clock, run_job = world
    job = await queued(repos, clock)
    await run_job(job.id)
    first = await repos.results.get(job.id)

    assert await run_job(job.id) is None
    assert (await repos.jobs.get(job.id)).attempts == 1
    assert await repos.results.get(job.id) == first


async def test_a_job_over_unknown_assets_fails_with_the_reason(world):
    repos, clock, run_job = world
    job = await queued(repos, clock, {**SPEC, "universe": ["SPY", "NOPE"]})

    assert await run_job(job.id) is JobStatus.FAILED
    stored = await repos.jobs.get(job.id)
    assert stored.status is JobStatus.FAILED and "NOPE" in stored.error
    assert await repos.results.get(job.id) is None


async def test_a_cancelled_job_is_not_run(world):
    repos, clock, run_job = world
    job = await queued(repos, clock)
    await repos.jobs.cancel(job.id, clock.now())

    assert await run_job(job.id) is None
    assert (await repos.jobs.get(job.id)).status is JobStatus.CANCELLED
    assert await repos.results.get(job.id) is None


async def test_a_named_risk_free_series_without_data_fails_the_job_with_the_reason(world):
    repos, clock, run_job = world
    job = await queued(repos, clock, {**SPEC, "risk_free": "NOPE"})

    assert await run_job(job.id) is JobStatus.FAILED
    assert "risk-free series NOPE" in (await repos.jobs.get(job.id)).error


async def test_the_named_risk_free_series_is_the_one_cash_earns(world):
    repos, clock, run_job = world
    days = [d.date() for d in pd.bdate_range("2019-01-01", "2020-12-31")]
    await repos.macro.upsert_series(
        [
            MacroSeries(
                code="MYRATE",
                name="test rate",
                frequency=MacroFrequency.DAILY,
                units="percent, annualised",
            )
        ]
    )
    await repos.macro.upsert_observations("MYRATE", pd.DataFrame({"date": days, "value": 36.0}))
    plain = await queued(
        repos,
        clock,
        {**SPEC, "strategy": {"type": "fixed_weights", "params": {"weights": {"SPY": 0.5}}}},
    )
    earning = await queued(repos, clock, {**plain.spec, "risk_free": "MYRATE"})

    await run_job(plain.id)
    await run_job(earning.id)

    without = (await repos.results.get(plain.id)).metrics["total_return"]
    with_rate = (await repos.results.get(earning.id)).metrics["total_return"]
    assert with_rate > without  # half the book in cash at 36 % a year shows
