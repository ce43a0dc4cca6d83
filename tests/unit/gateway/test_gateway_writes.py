"""Backtests, portfolios, ingestion commands, API keys, limits, caching and CORS."""

from __future__ import annotations

import asyncio
import json

from domain.errors import QueueUnavailable
from domain.model import JobStatus
from domain.usecases.backtests import SubmitLimits
from gateway.container import GatewayOptions
from tests.unit.gateway.conftest import Stack
from tests.unit.gateway.seed import finished_job, spec_body
from tests.unit.gateway.test_gateway_reads import assert_problem


async def submit(stack: Stack, body: dict | None = None, **headers: str):
    return await stack.client.post("/v1/backtests", json=body or spec_body(), headers=headers)


async def queued_job_ids(stack: Stack) -> list[str]:
    return [json.loads(m.body)["job_id"] for m in await stack.backtests.receive(10, 0, 30)]


async def test_submit_answers_202_with_location_and_queues_the_job(stack: Stack) -> None:
    response = await submit(stack)
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued"
    assert response.headers["location"] == f"/v1/backtests/{job['id']}"
    assert await queued_job_ids(stack) == [job["id"]]
    fetched = await stack.client.get(response.headers["location"])
    assert fetched.json()["id"] == job["id"]


async def test_invalid_spec_names_each_bad_field(stack: Stack) -> None:
    body = spec_body(universe=["SPY", "NOPE"], benchmark="ZZZ")
    problem = assert_problem(await submit(stack, body), 422, "validation-error")
    assert {e["field"] for e in problem["errors"]} >= {"universe.1", "benchmark"}
    shape = assert_problem(
        await submit(stack, spec_body(start="2020-01-01", end="2019-01-01")),
        422,
        "validation-error",
    )
    assert shape["errors"]
    assert await queued_job_ids(stack) == []


async def test_idempotency_key_replays_or_conflicts(stack: Stack) -> None:
    first = await submit(stack, **{"Idempotency-Key": "abc"})
    again = await submit(stack, **{"Idempotency-Key": "abc"})
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await submit(stack, spec_body(end="2022-12-31"), **{"Idempotency-Key": "abc"})
    assert_problem(other, 409, "conflict")


async def test_submission_still_succeeds_when_the_queue_is_down(stack: Stack, monkeypatch) -> None:
    async def down(*_a, **_k):
        raise QueueUnavailable("sqs down")

    monkeypatch.setattr(stack.backtests, "send", down)
    response = await submit(stack)
    assert response.status_code == 202
    metrics = (await stack.client.get("/metrics")).text
    assert 'gateway_queue_send_errors_total{queue="backtest"} 1.0' in metrics


async def test_active_job_limit_is_a_429_problem(make_stack) -> None:
    async with make_stack(limits=SubmitLimits(max_active_jobs_per_key=1)) as stack:
        assert (await submit(stack)).status_code == 202
        assert_problem(await submit(stack), 429, "too-many-active-jobs")


async def test_universe_and_span_limits_are_422(make_stack) -> None:
    async with make_stack(limits=SubmitLimits(max_universe=2, max_span_days=100)) as stack:
        problem = assert_problem(await submit(stack), 422, "validation-error")
        assert {e["field"] for e in problem["errors"]} >= {"universe", "end"}


async def test_list_filters_by_status_newest_first_with_cursor(stack: Stack) -> None:
    ids = []
    for _ in range(3):
        ids.append((await submit(stack)).json()["id"])
        stack.clock.advance(1)
    await finished_job(stack.repos)
    page = (await stack.client.get("/v1/backtests", params={"status": "queued", "limit": 2})).json()
    assert [j["id"] for j in page["items"]] == ids[::-1][:2]
    rest = (
        await stack.client.get(
            "/v1/backtests", params={"status": "queued", "cursor": page["next_cursor"]}
        )
    ).json()
    assert [j["id"] for j in rest["items"]] == ids[:1]


async def test_cancel_queued_job_then_cancelling_a_finished_one_is_409(stack: Stack) -> None:
    job_id = (await submit(stack)).json()["id"]
    cancelled = await stack.client.delete(f"/v1/backtests/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    done = await finished_job(stack.repos)
    assert_problem(await stack.client.delete(f"/v1/backtests/{done.id}"), 409, "conflict")
    assert_problem(
        await stack.client.delete("/v1/backtests/00000000-0000-0000-0000-000000000000"),
        404,
        "not-found",
    )


async def test_long_poll_returns_when_the_status_changes(stack: Stack) -> None:
    job_id = (await submit(stack)).json()["id"]

    async def worker_claims() -> None:
        await asyncio.sleep(0.05)
        import uuid

        job = await stack.repos.jobs.get(uuid.UUID(job_id))
        await stack.repos.jobs.save(job.claim(stack.clock.now(), 60))

    claimer = asyncio.create_task(worker_claims())
    response = await stack.client.get(f"/v1/backtests/{job_id}", params={"wait": 10})
    await claimer
    assert response.json()["status"] == "running"


async def test_result_is_409_until_succeeded_then_json_csv_and_etag(stack: Stack) -> None:
    job_id = (await submit(stack)).json()["id"]
    assert_problem(await stack.client.get(f"/v1/backtests/{job_id}/result"), 409, "conflict")
    done = await finished_job(stack.repos)
    url = f"/v1/backtests/{done.id}/result"
    full = await stack.client.get(url)
    assert set(full.json()) >= {"metrics", "nav", "benchmark", "weights", "analytics"}
    only = (await stack.client.get(url, params={"include": "metrics,nav"})).json()
    assert set(only) == {"id", "status", "metrics", "nav"}
    assert_problem(
        await stack.client.get(url, params={"include": "colour"}), 422, "validation-error"
    )
    as_csv = await stack.client.get(url, headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.splitlines()
    assert lines[0] == "date,nav,benchmark" and len(lines) == len(full.json()["nav"]["dates"]) + 1
    etag = full.headers["etag"]
    assert "immutable" in full.headers["cache-control"]
    assert (await stack.client.get(url, headers={"If-None-Match": etag})).status_code == 304
    assert_problem(
        await stack.client.get(url, headers={"Accept": "image/png"}), 406, "not-acceptable"
    )


async def test_chart_is_svg_cached_with_etag(stack: Stack) -> None:
    done = await finished_job(stack.repos)
    url = f"/v1/backtests/{done.id}/chart.svg"
    first = await stack.client.get(url)
    assert first.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in first.content
    second = await stack.client.get(url)
    assert second.content == first.content
    assert (
        await stack.client.get(url, headers={"If-None-Match": first.headers["etag"]})
    ).status_code == 304


async def test_portfolio_lifecycle(stack: Stack) -> None:
    low = await finished_job(stack.repos, sharpe=0.3)
    high = await finished_job(stack.repos, sharpe=1.2)
    saved = await stack.client.post(
        "/v1/portfolios", json={"backtest_id": str(low.id), "name": "low"}
    )
    assert saved.status_code == 201 and saved.headers["location"].endswith(saved.json()["id"])
    await stack.client.post("/v1/portfolios", json={"backtest_id": str(high.id), "name": "high"})
    taken = await stack.client.post(
        "/v1/portfolios", json={"backtest_id": str(high.id), "name": "low"}
    )
    assert_problem(taken, 409, "conflict")
    listing = (
        await stack.client.get("/v1/portfolios", params={"sort": "sharpe", "order": "desc"})
    ).json()
    assert [p["name"] for p in listing["items"]] == ["high", "low"]
    assert listing["items"][0]["sharpe"] == 1.2
    detail = (await stack.client.get(saved.headers["location"])).json()
    assert detail["nav"]["values"] and detail["weights"] and detail["metrics"]["cagr"] is not None
    chart = await stack.client.get(saved.headers["location"] + "/chart.svg")
    assert b"<svg" in chart.content
    assert (await stack.client.delete(saved.headers["location"])).status_code == 204
    assert_problem(await stack.client.get(saved.headers["location"]), 404, "not-found")


async def test_only_succeeded_backtests_can_be_saved(stack: Stack) -> None:
    failed = await finished_job(stack.repos, status=JobStatus.FAILED)
    response = await stack.client.post(
        "/v1/portfolios", json={"backtest_id": str(failed.id), "name": "x"}
    )
    assert_problem(response, 409, "conflict")


async def test_ingest_command_is_validated_and_queued(stack: Stack) -> None:
    accepted = await stack.client.post(
        "/v1/ingestion/commands", json={"type": "update_prices", "market": "KR"}
    )
    assert accepted.status_code == 202
    [message] = await stack.ingest.receive(10, 0, 30)
    body = json.loads(message.body)
    assert body["type"] == "update_prices" and body["market"] == "KR" and body["command_id"]
    bad = await stack.client.post(
        "/v1/ingestion/commands", json={"type": "update_prices", "market": "JP"}
    )
    assert_problem(bad, 422, "validation-error")


async def test_runs_and_freshness_are_listed(stack: Stack) -> None:
    runs = (await stack.client.get("/v1/ingestion/runs")).json()
    assert runs == {"items": [], "next_cursor": None}
    fresh = (await stack.client.get("/v1/ingestion/freshness")).json()
    us = next(m for m in fresh["markets"] if m["market"] == "US")
    assert us["last_stored_session"] == "2024-12-31"
    assert fresh["macro"]["CPIAUCSL"] == "2024-12-01"


async def test_api_keys_guard_writes_and_optionally_reads(make_stack) -> None:
    async with make_stack(GatewayOptions(api_keys=("s3cret",))) as stack:
        assert_problem(await submit(stack), 401, "unauthorized")
        assert_problem(await submit(stack, **{"X-API-Key": "wrong"}), 401, "unauthorized")
        assert (await submit(stack, **{"X-API-Key": "s3cret"})).status_code == 202
        assert (await stack.client.get("/v1/assets")).status_code == 200
        metrics = (await stack.client.get("/metrics")).text
        assert "s3cret" not in metrics
    async with make_stack(
        GatewayOptions(api_keys=("s3cret",), require_key_for_reads=True)
    ) as stack:
        assert_problem(await stack.client.get("/v1/assets"), 401, "unauthorized")
        assert (
            await stack.client.get("/v1/assets", headers={"X-API-Key": "s3cret"})
        ).status_code == 200


async def test_body_over_the_limit_is_413(make_stack) -> None:
    async with make_stack(GatewayOptions(max_body_bytes=200)) as stack:
        response = await submit(stack, spec_body(name="x" * 300))
        assert_problem(response, 413, "payload-too-large")


async def test_cors_allows_only_listed_origins(make_stack) -> None:
    async with make_stack(GatewayOptions(cors_origins=("https://app.example",))) as stack:
        ok = await stack.client.get("/v1/assets", headers={"Origin": "https://app.example"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        other = await stack.client.get("/v1/assets", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_freshness_counts_missing_sessions_against_the_exchange_calendar() -> None:
    from datetime import UTC, datetime

    from adapters.calendars import ExchangeCalendarsAdapter
    from tests.unit.gateway.conftest import gateway

    async with gateway(calendar=ExchangeCalendarsAdapter()) as stack:
        # Stored US history ends on 2024-12-31; by the evening of 2025-01-06 (New York) the
        # sessions of 2 Jan, 3 Jan and 6 Jan have closed.
        stack.clock.set(datetime(2025, 1, 7, 3, 0, tzinfo=UTC))
        fresh = (await stack.client.get("/v1/ingestion/freshness")).json()
        us = next(m for m in fresh["markets"] if m["market"] == "US")
        assert us["last_completed_session"] == "2025-01-06"
        assert us["sessions_behind"] == 3 and us["stale"] is True


async def test_a_spec_date_given_as_a_number_is_refused_not_read_as_1970(stack: Stack) -> None:
    problem = assert_problem(await submit(stack, spec_body(start=0)), 422, "validation-error")
    assert [e["field"] for e in problem["errors"]] == ["start"]
    assert await queued_job_ids(stack) == []


async def test_a_spec_with_a_boolean_or_a_quoted_number_where_a_number_belongs_is_refused(
    stack: Stack,
) -> None:
    """Validation is strict: read laxly, `"universe": [true]` would name asset 1 and
    `"fee_bps": true` would charge 1 bp. A numeric string is still a ticker (KRX codes are
    digits)."""
    for overrides, field in [
        ({"universe": ["SPY", True]}, "universe.1"),
        ({"fee_bps": True}, "fee_bps"),
        ({"initial_capital": "10000"}, "initial_capital"),
        ({"rebalance_band": {"absolute": "0.05"}}, "rebalance_band.absolute"),
        ({"strategy": {"type": "dual_momentum", "params": {"top_n": True}}}, "strategy.params"),
    ]:
        problem = assert_problem(
            await submit(stack, spec_body(**overrides)), 422, "validation-error"
        )
        # A union names its branches after the field (universe.1.constrained-int, ...).
        assert any(e["field"].startswith(field) for e in problem["errors"]), (overrides, problem)
    assert await queued_job_ids(stack) == []
