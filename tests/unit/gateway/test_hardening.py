"""Control characters in the URL are a 400 problem, never a driver error."""

from __future__ import annotations

from fastapi.testclient import TestClient

from adapters.clock import SystemClock
from adapters.memory import build_memory_repositories
from adapters.memory.queue import InMemoryMessageQueue
from gateway.app import create_app
from gateway.container import GatewayContainer


def client() -> TestClient:
    container = GatewayContainer(
        repositories=build_memory_repositories(),
        backtest_queue=InMemoryMessageQueue("b"),
        ingest_queue=InMemoryMessageQueue("i"),
        clock=SystemClock(),
    )
    return TestClient(create_app(container))


def test_a_nul_byte_in_a_query_is_a_bad_request_problem():
    response = client().get("/v1/assets", params={"q": "x\x00y"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/bad-request")


def test_an_encoded_control_character_in_the_path_is_refused():
    assert client().get("/v1/macro/series/CPI%0AAUCSL/observations").status_code == 400


def test_ordinary_searches_still_work():
    assert client().get("/v1/assets", params={"q": "S&P 500"}).status_code == 200


def test_an_unknown_query_parameter_is_named_in_a_422_problem():
    response = client().get("/v1/backtests", params={"stat": "queued"})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "query.stat", "message": "not a parameter of this route"}
    ]


def test_declared_query_parameters_are_accepted():
    assert client().get("/v1/backtests", params={"status": "queued", "limit": 5}).status_code == 200
