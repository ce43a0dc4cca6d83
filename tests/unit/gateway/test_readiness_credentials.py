"""Readiness after the database refused the task's credentials (its secret was rotated).

The ALB replaces a target only after three failed checks in a row, so readiness must stay 503
even when a connection opened before the rotation answers the next probe.
"""

from __future__ import annotations

from adapters.memory import InMemoryHealthCheck
from domain.errors import StorageCredentialsRejected, StorageUnavailable
from tests.unit.gateway.conftest import Stack


def health_check(stack: Stack) -> InMemoryHealthCheck:
    health = stack.repos.health
    assert isinstance(health, InMemoryHealthCheck)
    return health


async def test_refused_credentials_keep_readiness_unavailable_with_the_reason(
    stack: Stack,
) -> None:
    health = health_check(stack)
    health.failure = StorageCredentialsRejected("database rejected the credentials (28P01)")

    first = await stack.client.get("/health/ready")
    health.failure = None  # a connection opened before the rotation answers
    later = [await stack.client.get("/health/ready") for _ in range(3)]

    for response in (first, *later):
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        database = body["checks"]["database"]
        assert database["status"] == "unavailable"
        assert "StorageCredentialsRejected" in database["detail"]
        assert "replaced" in database["detail"]
        assert body["checks"]["backtest_queue"]["status"] == "ok"


async def test_an_outage_is_not_remembered_once_the_database_answers(stack: Stack) -> None:
    health_check(stack).failure = StorageUnavailable("connection refused")
    assert (await stack.client.get("/health/ready")).status_code == 503

    health_check(stack).failure = None
    assert (await stack.client.get("/health/ready")).status_code == 200


async def test_credentials_refused_on_a_request_make_the_task_unready(
    stack: Stack, monkeypatch
) -> None:
    """The probe may reuse a connection opened before the rotation and pass; a request that
    needed a new connection and was refused must still get the task replaced."""

    async def refused(*_args: object, **_kwargs: object) -> None:
        raise StorageCredentialsRejected("database rejected the credentials (28P01)")

    monkeypatch.setattr(stack.repos.assets, "list", refused)
    assert (await stack.client.get("/health/ready")).status_code == 200

    assert (await stack.client.get("/v1/assets")).status_code == 503
    ready = await stack.client.get("/health/ready")

    assert ready.status_code == 503
    assert "StorageCredentialsRejected" in ready.json()["checks"]["database"]["detail"]


async def test_an_outage_seen_on_a_request_does_not_make_the_task_unready(
    stack: Stack, monkeypatch
) -> None:
    async def down(*_args: object, **_kwargs: object) -> None:
        raise StorageUnavailable("connection refused")

    monkeypatch.setattr(stack.repos.assets, "list", down)
    assert (await stack.client.get("/v1/assets")).status_code == 503
    assert (await stack.client.get("/health/ready")).status_code == 200
