"""A database that refuses the process's credentials is told apart from an outage: the workers
exit non-zero for a fresh task, the gateway stays up but unready.

After RDS rotates the master password, a task still holding the old secret gets SQLSTATE 28P01
on its next new connection. The local server trusts every loopback login, so a wrong password
would succeed here; a role created NOLOGIN is refused by the real server with 28000 (the same
SQLSTATE class, through the same driver and SQLAlchemy wrapping), and the 28P01 case is checked
on the driver's own exception.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from adapters.sqlalchemy import build_sqla_repositories, create_engine
from adapters.sqlalchemy.errors import translate
from adapters.worker import EXIT_RESTART_REQUIRED
from domain.errors import RestartRequired, StorageCredentialsRejected, StorageUnavailable
from tests.support.gateway import queue_settings, running_gateway
from tests.support.postgres import connect_admin
from tests.support.processes import ServiceStack

pytestmark = pytest.mark.postgres

SECRET = "not-a-real-secret"
# A bound only a worker that never gives up reaches (start-up imports pandas and aioboto3).
LIMIT_S = 120.0


@pytest.fixture
async def refused_url(postgres_server: str, postgres_url: str) -> AsyncIterator[str]:
    """A URL of the test database for a role that exists but may not log in."""
    role = f"ii_nologin_{uuid.uuid4().hex[:8]}"
    conn = await connect_admin(postgres_server)
    try:
        await conn.execute(f"CREATE ROLE \"{role}\" NOLOGIN PASSWORD '{SECRET}'")
        url = make_url(postgres_url).set(username=role, password=SECRET)
        yield url.render_as_string(hide_password=False)
    finally:
        await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        await conn.close()


async def test_a_refused_login_is_reported_as_rejected_credentials(refused_url: str) -> None:
    engine = create_engine(refused_url)
    try:
        with pytest.raises(StorageCredentialsRejected) as caught:
            await build_sqla_repositories(engine).health.check()
    finally:
        await engine.dispose()

    error = caught.value
    assert isinstance(error, RestartRequired)  # the workers exit on it
    assert isinstance(error, StorageUnavailable)  # a request or job in hand is retried later
    assert "28000" in str(error)
    role = make_url(refused_url).username
    assert role is not None and role not in str(error) and SECRET not in str(error)


def test_a_wrong_password_is_rejected_credentials_not_an_outage() -> None:
    rotated = asyncpg.exceptions.InvalidPasswordError(
        'password authentication failed for user "app"'
    )

    translated = translate(rotated)

    assert isinstance(translated, StorageCredentialsRejected)
    assert "app" not in str(translated) and "28P01" in str(translated)


def test_a_database_restart_stays_a_transient_outage() -> None:
    shutting_down = asyncpg.exceptions.AdminShutdownError("terminating connection")

    translated = translate(shutting_down)

    assert isinstance(translated, StorageUnavailable)
    assert not isinstance(translated, RestartRequired)


@pytest.mark.sqs
@pytest.mark.parametrize("service", ["backtester", "ingestor"])
async def test_a_worker_refused_by_the_database_exits_non_zero_for_a_fresh_task(
    service: str, refused_url: str, sqs_endpoint: str, tmp_path: Path
) -> None:
    stack = ServiceStack(database_url=refused_url, sqs_endpoint=sqs_endpoint, log_dir=tmp_path)
    process = stack.start(service)
    try:
        code = await asyncio.to_thread(process.wait, LIMIT_S)
    finally:
        stack.stop_all()

    assert code == EXIT_RESTART_REQUIRED, stack.logs(service)[-3000:]
    logs = stack.logs(service)
    assert SECRET not in logs
    [exiting] = [
        line
        for line in map(json.loads, logs.splitlines())
        if line["message"].startswith("exiting so that a fresh process starts")
    ]
    assert exiting["level"] == "ERROR" and "credentials" in exiting["reason"]


@pytest.mark.sqs
async def test_a_gateway_refused_by_the_database_is_unready_with_the_reason(
    refused_url: str, sqs_endpoint: str
) -> None:
    async with running_gateway(refused_url, queue_settings(sqs_endpoint)) as (client, _):
        read = await client.get("/v1/assets")
        ready = await client.get("/health/ready")

    assert read.status_code == 503  # the request is answered, as in any storage outage
    assert read.headers["content-type"].startswith("application/problem+json")
    assert ready.status_code == 503
    database = ready.json()["checks"]["database"]
    assert database["status"] == "unavailable"
    assert database["detail"].startswith("StorageCredentialsRejected")
    role = make_url(refused_url).username
    for body in (read.text, ready.text):
        assert SECRET not in body and role is not None and role not in body


@pytest.fixture
async def login_role_url(postgres_server: str, postgres_url: str) -> AsyncIterator[tuple[str, str]]:
    """A URL of the test database for a role that may log in, and the role's name."""
    role = f"ii_rotating_{uuid.uuid4().hex[:8]}"
    conn = await connect_admin(postgres_server)
    try:
        await conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{SECRET}'")
        url = make_url(postgres_url).set(username=role, password=SECRET)
        yield url.render_as_string(hide_password=False), role
    finally:
        await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        await conn.close()


@pytest.mark.sqs
async def test_readiness_sees_a_rotation_that_pooled_connections_hide(
    login_role_url: tuple[str, str], postgres_server: str, sqs_endpoint: str
) -> None:
    """After the rotation, connections opened before it still answer, and each uvicorn worker
    process has its own pool: only a probe that logs in anew sees the refusal in every process.
    The role losing LOGIN stands in for the password rotating (this server trusts any password
    on loopback)."""
    url, role = login_role_url
    admin = await connect_admin(postgres_server)
    try:
        async with running_gateway(url, queue_settings(sqs_endpoint)) as (client, _):
            before = await client.get("/health/ready")
            await admin.execute(f'ALTER ROLE "{role}" NOLOGIN')
            after = await client.get("/health/ready")
    finally:
        await admin.close()

    assert before.status_code == 200, before.text
    assert after.status_code == 503
    assert after.json()["checks"]["database"]["detail"].startswith("StorageCredentialsRejected")
