"""Each engine gets its own database's strategies: a PostgreSQL engine the asyncpg and COPY
fast paths, a SQLite engine the Core paths. The contract suites cannot tell the two apart by
results, so a wrong choice would only show as lost speed."""

from __future__ import annotations

import pytest

from adapters.sqlalchemy import SqlaAssetRepository, SqlaPriceRepository, create_engine
from adapters.sqlalchemy.dialects import POSTGRES, SQLITE, dialect_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://user@127.0.0.1:5432/db", POSTGRES),
        ("postgres://user@127.0.0.1:5432/db", POSTGRES),
        ("sqlite:///:memory:", SQLITE),
    ],
)
async def test_repositories_take_the_strategies_of_their_engines_database(
    url: str, expected: object
) -> None:
    engine = create_engine(url)  # no connection is opened
    try:
        assert dialect_of(engine) is expected
        assert SqlaAssetRepository(engine)._dialect is expected
        assert SqlaPriceRepository(engine)._bars is dialect_of(engine).bars
    finally:
        await engine.dispose()
