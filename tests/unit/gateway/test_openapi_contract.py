"""The OpenAPI document is the contract clients code against: pin its routes and statuses."""

from __future__ import annotations

import pytest

from adapters.clock import ManualClock
from adapters.memory import build_memory_repositories
from adapters.memory.queue import InMemoryMessageQueue
from gateway.bootstrap import bootstrap
from gateway.container import GatewayOptions

# 400: a URL with control characters is refused before routing (gateway.hardening).
COMMON = {400, 401, 500, 503}
EXPECTED: dict[tuple[str, str], set[int]] = {
    ("GET", "/health/live"): {200, 400, 500},
    ("GET", "/health/ready"): {200, 400, 503},
    ("GET", "/metrics"): {200, 400, 500},
    ("GET", "/v1/assets"): {200, 422} | COMMON,
    ("GET", "/v1/assets/{asset_id}"): {200, 404, 422} | COMMON,
    ("GET", "/v1/assets/{asset_id}/prices"): {200, 304, 404, 422} | COMMON,
    ("GET", "/v1/prices"): {200, 304, 404, 422} | COMMON,
    ("GET", "/v1/macro/series"): {200} | COMMON,
    ("GET", "/v1/macro/series/{code}/observations"): {200, 404, 422} | COMMON,
    ("GET", "/v1/strategies"): {200, 400, 401, 500},
    ("POST", "/v1/backtests"): {202, 409, 413, 422, 429} | COMMON,
    ("GET", "/v1/backtests"): {200, 422} | COMMON,
    ("GET", "/v1/backtests/{job_id}"): {200, 404, 422} | COMMON,
    ("DELETE", "/v1/backtests/{job_id}"): {200, 404, 409, 422} | COMMON,
    ("GET", "/v1/backtests/{job_id}/result"): {200, 304, 404, 406, 409, 422} | COMMON,
    ("GET", "/v1/backtests/{job_id}/chart.svg"): {200, 304, 404, 409, 422} | COMMON,
    ("POST", "/v1/portfolios"): {201, 409, 413, 422} | COMMON,
    ("GET", "/v1/portfolios"): {200, 422} | COMMON,
    ("GET", "/v1/portfolios/{portfolio_id}"): {200, 304, 404, 422} | COMMON,
    ("DELETE", "/v1/portfolios/{portfolio_id}"): {204, 404, 422} | COMMON,
    ("GET", "/v1/portfolios/{portfolio_id}/chart.svg"): {200, 304, 404, 422} | COMMON,
    ("POST", "/v1/ingestion/commands"): {202, 413, 422} | COMMON,
    ("GET", "/v1/ingestion/runs"): {200, 422} | COMMON,
    ("GET", "/v1/ingestion/freshness"): {200} | COMMON,
}


@pytest.fixture(scope="module")
def document() -> dict:
    app = bootstrap(
        repositories=build_memory_repositories(),
        backtest_queue=InMemoryMessageQueue("b"),
        ingest_queue=InMemoryMessageQueue("i"),
        clock=ManualClock(),
        options=GatewayOptions(),
    )
    return app.openapi()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_routes_and_status_codes_are_pinned(document: dict) -> None:
    actual = {(m, p): {int(s) for s in op["responses"]} for m, p, op in operations(document)}
    assert actual == EXPECTED


def test_every_error_response_is_a_documented_problem(document: dict) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or path == "/health/ready":
                continue
            content = response["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "errors"} <= set(problem["properties"])


def test_every_operation_is_summarised_and_the_submit_body_has_examples(document: dict) -> None:
    assert all(op.get("summary") for _, _, op in operations(document))
    body = document["paths"]["/v1/backtests"]["post"]["requestBody"]["content"]["application/json"]
    assert "dual_momentum" in body["examples"]
    schemes = document["components"]["securitySchemes"].values()
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"}.items() <= next(
        iter(schemes)
    ).items()
