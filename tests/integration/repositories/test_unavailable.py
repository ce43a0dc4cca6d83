"""A store that cannot be reached surfaces as StorageUnavailable (retry later), never as a
driver exception the worker would treat as a bug."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.sqlalchemy import build_sqla_repositories, create_engine
from domain.errors import StorageUnavailable
from domain.model import AssetQuery
from domain.ports import Repositories
from tests.integration.repositories.conftest import make_bars


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nobody listens


@pytest.fixture(params=["postgres", "sqlite"])
async def unreachable(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Repositories]:
    if request.param == "postgres":
        url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/nowhere"
    else:
        url = f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite'}"
    engine = create_engine(url)
    try:
        yield build_sqla_repositories(engine)
    finally:
        await engine.dispose()


async def test_health_check_reports_an_unreachable_database(unreachable: Repositories) -> None:
    with pytest.raises(StorageUnavailable):
        await unreachable.health.check()


async def test_reads_and_writes_report_an_unreachable_database(unreachable: Repositories) -> None:
    with pytest.raises(StorageUnavailable):
        await unreachable.jobs.get(uuid.uuid4())
    with pytest.raises(StorageUnavailable):
        await unreachable.assets.list(AssetQuery())
    with pytest.raises(StorageUnavailable):
        await unreachable.prices.upsert(1, make_bars(2))
    with pytest.raises(StorageUnavailable):
        async with unreachable.unit_of_work():
            pass
