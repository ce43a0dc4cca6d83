"""Shared fixtures: the real PostgreSQL server and the local SQS endpoint."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

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
def _offline_aws_credentials() -> None:
    # Dummy credentials for the local endpoint; never real ones, never from the developer's env.
    for key, value in TEST_AWS_ENV.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)
