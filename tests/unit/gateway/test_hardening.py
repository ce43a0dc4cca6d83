"""Control characters in the URL are a 400 problem, never a driver error."""

from __future__ import annotations

from tests.unit.gateway.conftest import Stack


async def test_a_nul_byte_in_a_query_is_a_bad_request_problem(stack: Stack) -> None:
    response = await stack.client.get("/v1/assets", params={"q": "x\x00y"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/bad-request")


async def test_an_encoded_control_character_in_the_path_is_refused(stack: Stack) -> None:
    response = await stack.client.get("/v1/macro/series/CPI%0AAUCSL/observations")
    assert response.status_code == 400


async def test_ordinary_searches_still_work(stack: Stack) -> None:
    assert (await stack.client.get("/v1/assets", params={"q": "S&P 500"})).status_code == 200


async def test_an_unknown_query_parameter_is_named_in_a_422_problem(stack: Stack) -> None:
    response = await stack.client.get("/v1/backtests", params={"stat": "queued"})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "query.stat", "message": "not a parameter of this route"}
    ]


async def test_declared_query_parameters_are_accepted(stack: Stack) -> None:
    response = await stack.client.get("/v1/backtests", params={"status": "queued", "limit": 5})
    assert response.status_code == 200
