"""Backtest jobs: submit (idempotent), read with long-poll, list, cancel, result and chart."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Body, Header, Query, Request, Response

from domain.backtest.spec import BacktestSpec
from domain.errors import InvalidRequest
from domain.model import BacktestJob, BacktestResult, JobStatus
from domain.usecases.backtests import GetJob, ListJobsRequest, SubmitBacktestRequest
from gateway.caching import IMMUTABLE, etag_for, not_modified
from gateway.charts import render_nav_chart
from gateway.deps import Container, Metrics, UseCases
from gateway.problems import NOT_ACCEPTABLE, ProblemError, problem_docs
from gateway.schemas import JobOut, ListOf, ModelResponse, ResultOut, Series
from gateway.security import Reader, Writer

router = APIRouter(prefix="/v1/backtests", tags=["backtests"])

RESULT_PARTS = ("metrics", "nav", "benchmark", "weights", "analytics")

SPEC_EXAMPLES = {
    "dual_momentum": {
        "summary": "Global equity momentum (design §7)",
        "value": {
            "name": "GEM",
            "strategy": {"type": "dual_momentum", "params": {"top_n": 1, "lookback_months": 12}},
            "universe": ["SPY", "EFA", "IEF"],
            "start": "2008-01-01",
            "end": "2024-12-31",
            "rebalance": "M",
            "initial_capital": 10000,
            "fee_bps": 5,
            "benchmark": "SPY",
        },
    },
    "equal_weight": {
        "summary": "Equal weight, quarterly",
        "value": {
            "strategy": {"type": "equal_weight"},
            "universe": ["SPY", "IEF"],
            "start": "2010-01-01",
            "end": "2020-12-31",
            "rebalance": "Q",
        },
    },
}


def _location(job: BacktestJob) -> str:
    return f"/v1/backtests/{job.id}"


@router.post(
    "",
    status_code=202,
    summary="Submit a backtest (validated whole before it is queued)",
    response_model=JobOut,
    responses={
        202: {
            "description": "Queued (or the original job of an idempotent replay)",
            "headers": {"Location": {"schema": {"type": "string"}, "description": "The job"}},
        },
        **problem_docs(401, 409, 413, 422, 429, 503),
    },
)
async def submit(
    use_cases: UseCases,
    container: Container,
    metrics: Metrics,
    owner: Writer,
    spec: Annotated[BacktestSpec, Body(openapi_examples=SPEC_EXAMPLES)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Same key + same body → the original job; another body → 409",
        ),
    ] = None,
) -> ModelResponse:
    outcome = await use_cases.submit_backtest(
        SubmitBacktestRequest(spec=spec, idempotency_key=idempotency_key, owner=owner)
    )
    if outcome.created:
        metrics.jobs_submitted.inc()
        if not outcome.enqueued:
            metrics.queue_send_errors.labels(container.backtest_queue.name).inc()
    headers = {"Location": _location(outcome.job)}
    if not outcome.created:
        headers["Idempotent-Replayed"] = "true"
    return ModelResponse(JobOut.of(outcome.job), status_code=202, headers=headers)


@router.get(
    "",
    summary="List backtests, newest first",
    response_model=ListOf[JobOut],
    responses=problem_docs(401, 422, 503),
)
async def list_jobs(
    use_cases: UseCases,
    _: Reader,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ModelResponse:
    page = await use_cases.list_jobs(ListJobsRequest(status=status, limit=limit, cursor=cursor))
    return ModelResponse(
        ListOf[JobOut](items=[JobOut.of(j) for j in page.items], next_cursor=page.next_cursor)
    )


@router.get(
    "/{job_id}",
    summary="A backtest's status; ?wait=N long-polls until the status changes",
    response_model=JobOut,
    responses=problem_docs(401, 404, 422, 503),
)
async def get_job(
    use_cases: UseCases,
    container: Container,
    metrics: Metrics,
    _: Reader,
    job_id: uuid.UUID,
    wait: Annotated[float, Query(ge=0, le=30, description="Seconds to wait for a change")] = 0,
) -> ModelResponse:
    get = use_cases.get_job
    job = await get(job_id)
    if wait > 0 and not job.status.is_terminal:
        job = await _wait_for_change(
            get, job, min(wait, container.options.max_wait_s), container.options.poll_interval_s
        )
        if job.status.is_terminal:
            metrics.jobs_observed_finished.labels(job.status.value).inc()
    return ModelResponse(JobOut.of(job), headers={"Cache-Control": "no-store"})


async def _wait_for_change(
    get: GetJob, job: BacktestJob, wait_s: float, every_s: float
) -> BacktestJob:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    initial = job.status
    while (remaining := deadline - loop.time()) > 0:
        await asyncio.sleep(min(every_s, remaining))
        job = await get(job.id)
        if job.status != initial:
            break
    return job


@router.delete(
    "/{job_id}",
    summary="Cancel a queued or running backtest (409 when already finished)",
    response_model=JobOut,
    responses=problem_docs(401, 404, 409, 422, 503),
)
async def cancel(
    use_cases: UseCases, metrics: Metrics, _: Writer, job_id: uuid.UUID
) -> ModelResponse:
    before = await use_cases.get_job(job_id)
    job = await use_cases.cancel_job(job_id)
    if before.status != JobStatus.CANCELLED:
        metrics.jobs_cancelled.inc()
    return ModelResponse(JobOut.of(job))


def _parts(include: list[str] | None) -> list[str]:
    if not include:
        return list(RESULT_PARTS)
    wanted = {p.strip() for item in include for p in item.split(",") if p.strip()}
    unknown = sorted(wanted - set(RESULT_PARTS))
    if unknown:
        raise InvalidRequest(
            "unknown result parts",
            [
                {
                    "field": "include",
                    "message": f"unknown {unknown}; choose from {list(RESULT_PARTS)}",
                }
            ],
        )
    return [p for p in RESULT_PARTS if p in wanted]


def _wants_csv(request: Request, format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return False
    types = [t.split(";")[0].strip().lower() for t in accept.split(",")]
    if "text/csv" in types and "application/json" not in types:
        return True
    if any(
        t in ("application/json", "*/*", "application/*", "application/problem+json") for t in types
    ):
        return False
    raise ProblemError(NOT_ACCEPTABLE, "available as application/json or text/csv")


@router.get(
    "/{job_id}/result",
    summary="The result of a succeeded backtest (409 until then)",
    response_model=ResultOut,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "JSON, or the NAV table as CSV (Accept: text/csv)",
        },
        304: {"description": "Not modified (If-None-Match)"},
        **problem_docs(401, 404, 406, 409, 422, 503),
    },
)
async def result(
    request: Request,
    use_cases: UseCases,
    _: Reader,
    job_id: uuid.UUID,
    include: Annotated[
        list[str] | None, Query(description=f"Any of {', '.join(RESULT_PARTS)}")
    ] = None,
    format: Annotated[
        str | None, Query(pattern="^(json|csv)$", description="Overrides Accept")
    ] = None,
) -> Response:
    parts = _parts(include)
    as_csv = _wants_csv(request, format)
    job, outcome = await use_cases.get_result(job_id)
    etag = etag_for("result", job.id, job.finished_at, ",".join(parts), as_csv)
    cached = not_modified(request, etag, IMMUTABLE)
    if cached is not None:
        return cached
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if as_csv:
        return Response(_nav_csv(outcome), media_type="text/csv", headers=headers)
    left_out = set(RESULT_PARTS).difference(parts)
    return ModelResponse(ResultOut.of(job, outcome), headers=headers, exclude=left_out)


def _nav_csv(outcome: BacktestResult) -> str:
    nav = Series.of(outcome.nav)
    bench = Series.maybe(outcome.benchmark)
    bench_by_date = dict(zip(bench.dates, bench.values, strict=False)) if bench else {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["date", "nav", "benchmark"])
    for day, value in zip(nav.dates, nav.values, strict=False):
        mark = bench_by_date.get(day)
        writer.writerow(
            [day, "" if value is None else repr(value), "" if mark is None else repr(mark)]
        )
    return buffer.getvalue()


@router.get(
    "/{job_id}/chart.svg",
    summary="NAV vs benchmark (log scale) with drawdown, as SVG",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}, "description": "SVG"},
        304: {"description": "Not modified (If-None-Match)"},
        **problem_docs(401, 404, 409, 422, 503),
    },
)
async def chart(request: Request, use_cases: UseCases, _: Reader, job_id: uuid.UUID) -> Response:
    job, outcome = await use_cases.get_result(job_id)
    title = str(job.spec.get("name") or f"backtest {job.id}")
    return await svg_response(request, f"job:{job.id}:{job.finished_at}", title, outcome)


async def svg_response(request: Request, key: str, title: str, outcome: BacktestResult) -> Response:
    """The cached chart of a finished result, honouring If-None-Match."""
    etag = etag_for("chart", key, title)
    cached = not_modified(request, etag, IMMUTABLE)
    if cached is not None:
        return cached
    cache = request.app.state.charts
    svg = cache.get(etag)
    if svg is None:
        svg = await to_thread.run_sync(render_nav_chart, title, outcome.nav, outcome.benchmark)
        cache.put(etag, svg)
    return Response(
        svg, media_type="image/svg+xml", headers={"ETag": etag, "Cache-Control": IMMUTABLE}
    )
