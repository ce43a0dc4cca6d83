"""Shared fixtures: the real PostgreSQL server and the local SQS endpoint."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator

import pytest

from tests.support.log_scan import find_leaks
from tests.support.postgres import create_database, drop_database, find_or_start_server
from tests.support.sqs import TEST_AWS_ENV, local_sqs_endpoint


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Admin URL of a reachable PostgreSQL server (never skipped: see tests/support/postgres.py)."""
    server = find_or_start_server()
    try:
        yield server.admin_url
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database for this test session, dropped at the end."""
    url = asyncio.run(create_database(postgres_server))
    try:
        yield url
    finally:
        asyncio.run(drop_database(postgres_server, url))


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """URL of a moto server speaking SQS on 127.0.0.1 (one per test session)."""
    with local_sqs_endpoint() as url:
        yield url


@pytest.fixture(autouse=True, scope="session")
def _service_logs_hold_no_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After every test of this session (each xdist worker has its own): no log file that a
    service process wrote holds a key, token, password or DSN. A leak fails the run."""
    yield
    logs = sorted(tmp_path_factory.getbasetemp().rglob("logs/*.log"))
    harness = sys.modules.get("tests.reliability.harness")
    secrets = set(getattr(harness, "SECRETS", set()))
    leaks = find_leaks(logs, secrets)
    assert not leaks, "secrets in service logs:\n" + "\n".join(leaks[:50])


@pytest.fixture(autouse=True, scope="session")
def _offline_aws_credentials() -> None:
    # Dummy credentials for the local endpoint; never real ones, never from the developer's env.
    for key, value in TEST_AWS_ENV.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)
