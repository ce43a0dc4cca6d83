"""Health, metrics, assets, prices, macro, strategies and the problem-details contract."""

from __future__ import annotations

import gzip

import orjson

from domain.errors import StorageUnavailable
from tests.unit.gateway.conftest import Stack

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + kind)
    assert body["title"] and "instance" in body
    return body


async def test_liveness_and_readiness_report_ok(stack: Stack) -> None:
    assert (await stack.client.get("/health/live")).json() == {"status": "ok"}
    ready = await stack.client.get("/health/ready")
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) == {"database", "backtest_queue", "ingest_queue"}


async def test_readiness_names_the_failed_dependency(stack: Stack) -> None:
    stack.repos.health.failure = StorageUnavailable("db down")  # type: ignore[attr-defined]
    ready = await stack.client.get("/health/ready")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"]["status"] == "unavailable"
    assert checks["backtest_queue"]["status"] == "ok"


async def test_metrics_count_requests_by_route_template(stack: Stack) -> None:
    await stack.client.get("/v1/assets/1")
    text = (await stack.client.get("/metrics")).text
    assert 'route="/v1/assets/{asset_id}"' in text
    assert "gateway_http_request_duration_seconds_bucket" in text


async def test_assets_filter_search_and_paginate(stack: Stack) -> None:
    us = (await stack.client.get("/v1/assets", params={"market": "US", "limit": 2})).json()
    assert [a["ticker"] for a in us["items"]] == ["SPY", "EFA"]
    rest = (
        await stack.client.get("/v1/assets", params={"market": "US", "cursor": us["next_cursor"]})
    ).json()
    assert [a["ticker"] for a in rest["items"]] == ["IEF"] and rest["next_cursor"] is None
    found = (await stack.client.get("/v1/assets", params={"q": "samsung"})).json()["items"]
    assert [a["provider_symbol"] for a in found] == ["005930.KS"]


async def test_malformed_cursor_is_a_422_problem(stack: Stack) -> None:
    response = await stack.client.get("/v1/assets", params={"cursor": "%%%"})
    assert_problem(response, 422, "validation-error")


async def test_unknown_asset_is_a_404_problem(stack: Stack) -> None:
    assert_problem(await stack.client.get("/v1/assets/999"), 404, "not-found")


async def test_asset_prices_are_columnar_and_respect_range_and_fields(stack: Stack) -> None:
    response = await stack.client.get(
        "/v1/assets/1/prices",
        params={"start": "2020-01-01", "end": "2020-01-31", "fields": ["close"]},
    )
    body = response.json()
    assert body["ticker"] == "SPY" and body["currency"] == "USD"
    assert set(body["bars"]) == {"date", "close"}
    assert body["bars"]["date"][0] >= "2020-01-01" and body["bars"]["date"][-1] <= "2020-01-31"
    assert len(body["bars"]["date"]) == len(body["bars"]["close"])


async def test_large_series_are_gzip_compressed(stack: Stack) -> None:
    url = "/v1/assets/1/prices"
    plain = (await stack.client.get(url, headers={"Accept-Encoding": "identity"})).content
    # httpx decodes bodies transparently: read the bytes as sent to see the compression.
    async with stack.client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        sent = b"".join([chunk async for chunk in response.aiter_raw()])

    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == len(sent)
    assert gzip.decompress(sent) == plain
    assert len(sent) < len(plain)
    assert orjson.loads(plain)["bars"]["date"]


async def test_start_after_end_is_a_field_error(stack: Stack) -> None:
    response = await stack.client.get(
        "/v1/assets/1/prices", params={"start": "2021-01-01", "end": "2020-01-01"}
    )
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["field"] == "start"


async def test_multi_asset_prices_return_one_series_per_asset(stack: Stack) -> None:
    response = await stack.client.get(
        "/v1/prices", params={"asset_id": [1, 2, 3], "start": "2024-01-01", "fields": ["adj_close"]}
    )
    items = response.json()["items"]
    assert [i["ticker"] for i in items] == ["SPY", "EFA", "IEF"]
    assert all(set(i["bars"]) == {"date", "adj_close"} for i in items)
    assert_problem(
        await stack.client.get("/v1/prices", params={"asset_id": [1, 77]}), 404, "not-found"
    )
    assert_problem(await stack.client.get("/v1/prices"), 422, "validation-error")


async def test_macro_series_and_transforms(stack: Stack) -> None:
    catalog = (await stack.client.get("/v1/macro/series")).json()["items"]
    assert [s["code"] for s in catalog] == ["CPIAUCSL"]
    raw = (
        await stack.client.get(
            "/v1/macro/series/CPIAUCSL/observations", params={"start": "2020-01-01"}
        )
    ).json()
    yoy = (
        await stack.client.get(
            "/v1/macro/series/CPIAUCSL/observations",
            params={"start": "2020-01-01", "transform": "yoy"},
        )
    ).json()
    assert yoy["observations"]["dates"] == raw["observations"]["dates"]
    first, year_later = raw["observations"]["values"][0], raw["observations"]["values"][12]
    assert abs(yoy["observations"]["values"][12] - (year_later / first - 1) * 100) < 1e-9
    diff = (
        await stack.client.get(
            "/v1/macro/series/CPIAUCSL/observations",
            params={"start": "2020-01-01", "transform": "diff"},
        )
    ).json()
    values = raw["observations"]["values"]
    assert abs(diff["observations"]["values"][1] - (values[1] - values[0])) < 1e-9
    assert_problem(await stack.client.get("/v1/macro/series/NOPE/observations"), 404, "not-found")


async def test_strategy_catalog_has_param_schemas(stack: Stack) -> None:
    items = (await stack.client.get("/v1/strategies")).json()["items"]
    by_type = {s["type"]: s for s in items}
    assert "dual_momentum" in by_type
    assert by_type["dual_momentum"]["params_schema"]["properties"]["top_n"]["type"] == "integer"
    assert all(s["description"] for s in items)


async def test_unknown_route_and_method_are_problems(stack: Stack) -> None:
    assert_problem(await stack.client.get("/v1/nothing"), 404, "not-found")
    assert_problem(await stack.client.put("/v1/assets"), 405, "method-not-allowed")


async def test_storage_outage_is_a_quick_503_problem(stack: Stack, monkeypatch) -> None:
    async def down(*_args, **_kwargs):
        raise StorageUnavailable("connection refused to 10.0.0.5:5432 SELECT secret")

    monkeypatch.setattr(stack.repos.assets, "list", down)
    response = await stack.client.get("/v1/assets")
    body = assert_problem(response, 503, "storage-unavailable")
    assert "10.0.0.5" not in response.text and "SELECT" not in response.text
    assert response.headers["retry-after"]
    assert body["detail"]


async def test_unexpected_errors_are_500_problems_without_internals(
    stack: Stack, monkeypatch
) -> None:
    async def broken(*_args, **_kwargs):
        raise RuntimeError("psycopg: SELECT * FROM secrets at /srv/app.py line 3")

    monkeypatch.setattr(stack.repos.assets, "get", broken)
    response = await stack.client.get("/v1/assets/1")
    assert_problem(response, 500, "internal-error")
    assert "SELECT" not in response.text and "Traceback" not in response.text


async def test_a_date_that_is_not_yyyy_mm_dd_is_a_field_error_not_a_unix_timestamp(
    stack: Stack,
) -> None:
    """pydantic would read `0` as 1970-01-01 and `1700000000` as 2023-11-14: a different query
    than the client meant, answered 200. The documented format is an ISO calendar date."""
    for path, params in [
        ("/v1/assets/1/prices", {"start": "0"}),
        ("/v1/prices", {"asset_id": 1, "end": "1700000000"}),
        ("/v1/macro/series/CPIAUCSL/observations", {"start": "20200101"}),
    ]:
        body = assert_problem(await stack.client.get(path, params=params), 422, "validation-error")
        [field] = [e["field"] for e in body["errors"]]
        assert field in params, (path, body)
    ok = await stack.client.get("/v1/assets/1/prices", params={"start": "2024-01-02"})
    assert ok.status_code == 200
