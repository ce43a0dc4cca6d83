"""SubmitBacktest, the job reads, cancel, results, the sweeper and portfolios on the fakes."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from adapters.clock import ManualClock
from adapters.memory.queue import InMemoryMessageQueue
from domain.backtest.spec import BacktestSpec
from domain.errors import Conflict, InvalidRequest, NotFound, QueueUnavailable
from domain.model import BacktestJob, JobStatus
from domain.ports import Repositories
from domain.usecases.backtests import (
    CancelJob,
    GetResult,
    RequeueStaleJobs,
    SubmitBacktest,
    SubmitBacktestRequest,
    SubmitLimits,
    TooManyActiveJobs,
)
from domain.usecases.portfolios import (
    DeletePortfolio,
    GetPortfolio,
    ListPortfolios,
    ListPortfoliosRequest,
    SavePortfolio,
    SavePortfolioRequest,
)
from tests.unit.gateway.seed import finished_job, seeded_repositories, spec_body


class BrokenQueue(InMemoryMessageQueue):
    """A queue whose sends fail until ``healthy`` is set."""

    healthy = False

    async def send(self, body: str, delay_s: int = 0) -> str:
        if not self.healthy:
            raise QueueUnavailable("queue down")
        return await super().send(body, delay_s)


@pytest.fixture
async def repos() -> Repositories:
    return await seeded_repositories()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def submitter(
    repos: Repositories, queue: InMemoryMessageQueue, clock: ManualClock, **limits: int
) -> SubmitBacktest:
    return SubmitBacktest(
        assets=repos.assets,
        prices=repos.prices,
        jobs=repos.jobs,
        queue=queue,
        clock=clock,
        limits=SubmitLimits(**limits),
    )


def request(
    key: str | None = None, owner: str | None = None, **overrides: object
) -> SubmitBacktestRequest:
    return SubmitBacktestRequest(
        spec=BacktestSpec.model_validate(spec_body(**overrides)), idempotency_key=key, owner=owner
    )


async def claim(repos: Repositories, job_id: uuid.UUID, clock: ManualClock) -> BacktestJob:
    """What a worker taking the job's message does."""
    job = await repos.jobs.get(job_id)
    assert job is not None
    return await repos.jobs.save(job.claim(clock.now(), stale_after_s=60))


async def sent_job_ids(queue: InMemoryMessageQueue) -> list[str]:
    messages = await queue.receive(10, 0, 30)
    return [json.loads(m.body)["job_id"] for m in messages]


async def test_submit_stores_a_queued_job_and_sends_its_message(repos, clock) -> None:
    queue = InMemoryMessageQueue("backtest")
    outcome = await submitter(repos, queue, clock)(request())
    stored = await repos.jobs.get(outcome.job.id)
    assert stored is not None and stored.status == JobStatus.QUEUED
    assert stored.enqueued_at is not None
    assert await sent_job_ids(queue) == [str(outcome.job.id)]


async def test_submit_reports_every_bad_field_at_once(repos, clock) -> None:
    queue = InMemoryMessageQueue("backtest")
    bad = request(
        universe=["SPY", "NOPE", 999],
        benchmark="XXX",
        strategy={"type": "dual_momentum", "params": {"top_n": 0, "colour": "red"}},
    )
    with pytest.raises(InvalidRequest) as caught:
        await submitter(repos, queue, clock)(bad)
    fields = {e["field"] for e in caught.value.errors}
    assert {
        "universe.1",
        "universe.2",
        "benchmark",
        "strategy.params.top_n",
        "strategy.params.colour",
    } <= fields
    assert await repos.jobs.count_active(None) == 0
    assert await sent_job_ids(queue) == []


async def test_unknown_strategy_is_a_field_error(repos, clock) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await submitter(repos, InMemoryMessageQueue(), clock)(request(strategy={"type": "magic"}))
    assert [e["field"] for e in caught.value.errors] == ["strategy.type"]


async def test_dates_after_the_stored_history_are_refused(repos, clock) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await submitter(repos, InMemoryMessageQueue(), clock)(
            request(start="2026-01-01", end="2026-06-01")
        )
    assert [e["field"] for e in caught.value.errors] == ["start"]


async def test_lookback_before_the_stored_history_is_refused(repos, clock) -> None:
    # History starts 2015-01-01; a 12-month lookback from 2015-06-01 reaches back into 2014.
    with pytest.raises(InvalidRequest) as caught:
        await submitter(repos, InMemoryMessageQueue(), clock)(request(start="2015-06-01"))
    assert caught.value.errors[0]["field"] == "start"
    assert "history" in caught.value.errors[0]["message"]


async def test_universe_and_span_limits_are_field_errors(repos, clock) -> None:
    use_case = submitter(repos, InMemoryMessageQueue(), clock, max_universe=2, max_span_days=365)
    with pytest.raises(InvalidRequest) as caught:
        await use_case(request())
    assert {e["field"] for e in caught.value.errors} >= {"universe", "end"}


async def test_same_idempotency_key_and_body_returns_the_original_job(repos, clock) -> None:
    queue = InMemoryMessageQueue()
    use_case = submitter(repos, queue, clock)
    first = await use_case(request(key="k-1"))
    again = await use_case(request(key="k-1"))
    assert again.job.id == first.job.id and again.created is False
    assert len(await sent_job_ids(queue)) == 1


async def test_same_idempotency_key_with_another_body_is_a_conflict(repos, clock) -> None:
    use_case = submitter(repos, InMemoryMessageQueue(), clock)
    await use_case(request(key="k-1"))
    with pytest.raises(Conflict):
        await use_case(request(key="k-1", end="2022-12-31"))


async def test_idempotency_keys_are_scoped_per_owner(repos, clock) -> None:
    use_case = submitter(repos, InMemoryMessageQueue(), clock)
    mine = await use_case(request(key="k", owner="alice"))
    theirs = await use_case(request(key="k", owner="bob", end="2022-12-31"))
    assert mine.job.id != theirs.job.id


async def test_owner_cannot_exceed_the_active_job_limit(repos, clock) -> None:
    use_case = submitter(repos, InMemoryMessageQueue(), clock, max_active_jobs_per_key=2)
    await use_case(request(owner="alice"))
    await use_case(request(owner="alice"))
    with pytest.raises(TooManyActiveJobs):
        await use_case(request(owner="alice"))
    assert (await use_case(request(owner="bob"))).created


async def test_job_stays_queued_when_the_queue_is_down_and_the_sweeper_sends_it(
    repos, clock
) -> None:
    queue = BrokenQueue("backtest")
    outcome = await submitter(repos, queue, clock)(request())
    assert outcome.created and not outcome.enqueued
    sweeper = RequeueStaleJobs(jobs=repos.jobs, queue=queue, clock=clock)
    assert (await sweeper()).send_errors == 1
    queue.healthy = True
    report = await sweeper()
    assert report.requeued == [outcome.job.id]
    assert await sent_job_ids(queue) == [str(outcome.job.id)]
    # Once enqueued, the next sweep leaves it alone until the requeue period passes.
    assert (await sweeper()).requeued == []


async def test_sweeper_fails_a_silent_running_job_past_max_attempts(repos, clock) -> None:
    queue = InMemoryMessageQueue()
    job = (await submitter(repos, queue, clock)(request())).job
    for _ in range(3):
        await claim(repos, job.id, clock)
        clock.advance(timedelta(minutes=10))
    report = await RequeueStaleJobs(jobs=repos.jobs, queue=queue, clock=clock, max_attempts=3)()
    assert report.failed == [job.id]
    failed = await repos.jobs.get(job.id)
    assert failed is not None and failed.status == JobStatus.FAILED and failed.error


async def test_sweeper_resends_a_silent_running_job_with_attempts_left(repos, clock) -> None:
    queue = InMemoryMessageQueue()
    job = (await submitter(repos, queue, clock)(request())).job
    await sent_job_ids(queue)  # the first delivery, now lost with its worker
    await claim(repos, job.id, clock)
    clock.advance(timedelta(minutes=10))
    report = await RequeueStaleJobs(jobs=repos.jobs, queue=queue, clock=clock)()
    assert report.requeued == [job.id]


async def test_result_is_a_conflict_until_the_job_succeeded(repos, clock) -> None:
    job = (await submitter(repos, InMemoryMessageQueue(), clock)(request())).job
    get_result = GetResult(jobs=repos.jobs, results=repos.results)
    with pytest.raises(Conflict):
        await get_result(job.id)
    with pytest.raises(NotFound):
        await get_result(uuid.uuid4())
    done = await finished_job(repos)
    _, result = await get_result(done.id)
    assert result.metrics["cagr"] is not None


async def test_cancelling_a_finished_job_is_a_conflict(repos, clock) -> None:
    cancel = CancelJob(jobs=repos.jobs, clock=clock)
    queued = (await submitter(repos, InMemoryMessageQueue(), clock)(request())).job
    assert (await cancel(queued.id)).status == JobStatus.CANCELLED
    done = await finished_job(repos)
    with pytest.raises(Conflict):
        await cancel(done.id)


async def test_only_succeeded_backtests_are_saved_under_unique_names(repos, clock) -> None:
    save = SavePortfolio(jobs=repos.jobs, portfolios=repos.portfolios, clock=clock)
    failed = await finished_job(repos, status=JobStatus.FAILED)
    with pytest.raises(Conflict):
        await save(SavePortfolioRequest(backtest_id=failed.id, name="x"))
    with pytest.raises(InvalidRequest):
        await save(SavePortfolioRequest(backtest_id=uuid.uuid4(), name="x"))
    done = await finished_job(repos)
    await save(SavePortfolioRequest(backtest_id=done.id, name="GEM"))
    with pytest.raises(Conflict):
        await save(SavePortfolioRequest(backtest_id=done.id, name="GEM"))


async def test_portfolio_list_sorts_by_metric_and_detail_has_the_result(repos, clock) -> None:
    save = SavePortfolio(jobs=repos.jobs, portfolios=repos.portfolios, clock=clock)
    for name, sharpe in (("low", 0.2), ("high", 1.4), ("mid", 0.8)):
        await save(
            SavePortfolioRequest(
                backtest_id=(await finished_job(repos, sharpe=sharpe)).id, name=name
            )
        )
    listing = ListPortfolios(portfolios=repos.portfolios, jobs=repos.jobs, results=repos.results)
    rows = await listing(ListPortfoliosRequest(sort="sharpe", descending=True))
    assert [r.name for r in rows] == ["high", "mid", "low"]
    assert rows[0].strategy == "dual_momentum"
    detail = await GetPortfolio(
        portfolios=repos.portfolios, jobs=repos.jobs, results=repos.results
    )(rows[0].id)
    assert detail.result.nav["values"]
    await DeletePortfolio(portfolios=repos.portfolios)(rows[0].id)
    with pytest.raises(NotFound):
        await DeletePortfolio(portfolios=repos.portfolios)(rows[0].id)
