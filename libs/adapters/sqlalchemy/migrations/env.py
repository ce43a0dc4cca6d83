"""Alembic environment: runs the migrations over the async engine of the configured URL.

The URL comes from ``config.attributes["database_url"]`` (set by ``adapters.sqlalchemy.migrate``),
never from an ini file. SQLite needs ``render_as_batch`` because it cannot ALTER most things.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from adapters.sqlalchemy.engine import create_engine
from adapters.sqlalchemy.tables import metadata

config = context.config


# Any constant works; it only has to be the same for every process that migrates this database.
_MIGRATION_LOCK_KEY = 0x11E5_1647


def _configure(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Several tasks may start at once (a one-shot migrate per gateway task on ECS): the
        # session-level advisory lock makes them migrate one after the other, and the later ones
        # find the schema at head. Released when the connection closes.
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK_KEY})")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


_url = config.attributes["database_url"]
if context.is_offline_mode():
    _run_offline(_url)
else:
    asyncio.run(_run_online(_url))
