"""Database URL forms and engine set-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.sqlalchemy import create_engine, normalize_database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgresql://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+psycopg2://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql://u@db/app?sslmode=require", "postgresql+asyncpg://u@db/app?ssl=require"),
        ("sqlite:///var/app.db", "sqlite+aiosqlite:///var/app.db"),
        ("sqlite+aiosqlite:////abs/app.db", "sqlite+aiosqlite:////abs/app.db"),
    ],
)
def test_accepted_urls_map_to_the_async_drivers(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


def test_unsupported_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        normalize_database_url("mysql://u@db/app")


async def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA busy_timeout")) > 0
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_engine_keeps_default_connect_args_under_overrides(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url, connect_args={"command_timeout": 60})
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SHOW temp_buffers")) == "32MB"
    finally:
        await engine.dispose()
