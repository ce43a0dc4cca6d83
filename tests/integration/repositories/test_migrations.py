"""Alembic stairway: every revision upgrades, downgrades and upgrades again, on both backends,
and the head schema matches the table definitions the queries are built from."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import inspect

from adapters.sqlalchemy import (
    alembic_config,
    create_engine,
    downgrade_migrations,
    migrate,
    run_migrations,
)
from adapters.sqlalchemy.tables import metadata
from tests.support.postgres import create_database, drop_database

# SQLite cannot reflect the expression index upper(ticker); PostgreSQL still compares it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*expression-based index:UserWarning", "ignore:.*expression-based index:Warning"
)


def _revisions() -> list[Script]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return list(reversed(list(script.walk_revisions("base", "heads"))))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stairway.db'}"
        return
    admin = request.getfixturevalue("postgres_server")
    url = asyncio.run(create_database(admin, prefix="ii_stairway"))
    try:
        yield url
    finally:
        asyncio.run(drop_database(admin, url))


def _schema_at(url: str) -> tuple[str | None, set[tuple[str, str]]]:
    """The revision a database is at, and its (table, column) pairs."""

    async def read() -> tuple[str | None, set[tuple[str, str]]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:

                def snapshot(sync_conn: Any) -> tuple[str | None, set[tuple[str, str]]]:
                    revision = MigrationContext.configure(sync_conn).get_current_revision()
                    inspector = inspect(sync_conn)
                    columns = {
                        (table, column["name"])
                        for table in inspector.get_table_names()
                        if table != "alembic_version"
                        for column in inspector.get_columns(table)
                    }
                    return revision, columns

                return await conn.run_sync(snapshot)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_every_revision_upgrades_downgrades_and_upgrades_again(empty_database_url: str) -> None:
    for revision in _revisions():
        before = _schema_at(empty_database_url)
        run_migrations(empty_database_url, revision.revision)
        upgraded = _schema_at(empty_database_url)
        assert upgraded[0] == revision.revision
        assert upgraded[1] != before[1], f"{revision.revision} changes no column"
        downgrade_migrations(empty_database_url, revision.down_revision or "base")  # type: ignore[arg-type]
        assert _schema_at(empty_database_url) == before, f"{revision.revision} downgrade differs"
        run_migrations(empty_database_url, revision.revision)
        assert _schema_at(empty_database_url) == upgraded


async def _schema_diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: object) -> list[object]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})  # type: ignore[arg-type]
                return list(compare_metadata(context, metadata))

            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


async def test_head_schema_matches_the_table_definitions(empty_database_url: str) -> None:
    await migrate(empty_database_url)  # the async entry point, from inside a running loop
    assert await _schema_diff(empty_database_url) == []


async def test_downgrade_to_base_leaves_no_tables(empty_database_url: str) -> None:
    run_migrations(empty_database_url)  # sync entry point called inside a running loop
    downgrade_migrations(empty_database_url, "base")
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    assert set(tables) <= {"alembic_version"}
