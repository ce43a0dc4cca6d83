"""The OpenAPI document tells the truth about keys and links: where it says a key is optional,
the server answers without one, where it says required, the server refuses (401); and every
link names a real operation and parameter, and following it reaches the resource."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from gateway.container import GatewayOptions
from gateway.openapi_doc import KEY_OPTIONAL, KEY_REQUIRED
from tests.unit.gateway.conftest import Stack
from tests.unit.gateway.seed import spec_body

KEY = "doc-test-key"
SPEC = spec_body()
POLICIES = {
    "keys off": GatewayOptions(poll_interval_s=0.01),
    "keys for writes": GatewayOptions(api_keys=(KEY,), poll_interval_s=0.01),
    "keys for everything": GatewayOptions(
        api_keys=(KEY,), require_key_for_reads=True, poll_interval_s=0.01
    ),
}


@pytest.mark.parametrize("policy", list(POLICIES))
async def test_documented_key_requirement_matches_what_the_server_enforces(
    policy: str, make_stack: Callable[[GatewayOptions], AbstractAsyncContextManager[Stack]]
) -> None:
    async with make_stack(POLICIES[policy]) as stack:
        document = (await stack.client.get("/openapi.json")).json()
        probes = [
            ("get", "/v1/assets", None),
            ("get", "/v1/strategies", None),
            ("post", "/v1/backtests", SPEC),
            ("post", "/v1/ingestion/commands", {"type": "update_prices", "market": "US"}),
        ]
        for method, path, body in probes:
            security = document["paths"][path][method]["security"]
            assert security in (KEY_OPTIONAL, KEY_REQUIRED), security
            answer = await stack.client.request(method.upper(), path, json=body)
            refused = answer.status_code == 401
            assert refused == (security == KEY_REQUIRED), (policy, method, path, answer.text)


def resolve(expression: str, body: Any) -> Any:
    assert expression.startswith("$response.body#/"), expression
    for part in expression.removeprefix("$response.body#/").split("/"):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


async def test_every_link_names_a_real_operation_and_its_path_parameters(stack: Stack) -> None:
    document = (await stack.client.get("/openapi.json")).json()
    operations = {
        op["operationId"]: (path, op)
        for path, item in document["paths"].items()
        for op in item.values()
    }
    links = [
        link
        for item in document["paths"].values()
        for op in item.values()
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 10
    for link in links:
        path, operation = operations[link["operationId"]]
        path_parameters = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert set(link["parameters"]) == path_parameters, (path, link)


async def test_following_the_submit_links_reaches_the_job(stack: Stack) -> None:
    document = (await stack.client.get("/openapi.json")).json()
    submitted = await stack.client.post("/v1/backtests", json=SPEC)
    assert submitted.status_code == 202, submitted.text
    links = document["paths"]["/v1/backtests"]["post"]["responses"]["202"]["links"]
    job_id = resolve(links["GetBacktest"]["parameters"]["job_id"], submitted.json())
    polled = await stack.client.get(f"/v1/backtests/{job_id}")
    assert polled.status_code == 200
    assert polled.json()["status"] == "queued"
    assert submitted.headers["Location"].endswith(f"/v1/backtests/{job_id}")
