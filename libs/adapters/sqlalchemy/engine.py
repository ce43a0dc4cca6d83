"""Database URLs and the async engine factory (PostgreSQL via asyncpg, SQLite via aiosqlite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite"}
# A connection waits this long for another writer's lock before SQLite answers "locked".
SQLITE_BUSY_TIMEOUT_MS = 5000
# Fail fast when PostgreSQL is unreachable: readiness probes and workers must not hang.
CONNECT_TIMEOUT_S = 5.0


def normalize_database_url(url: str) -> str:
    """Map any accepted URL form to its async driver: ``postgres://``, ``postgresql://``
    (and the sync driver forms) to ``postgresql+asyncpg://``; ``sqlite:///path`` to
    ``sqlite+aiosqlite:///path``. Async forms pass through unchanged."""
    # make_url does not know the Heroku-style "postgres://" scheme.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername in _POSTGRES_SCHEMES:
        parsed = _asyncpg_query(parsed.set(drivername="postgresql+asyncpg"))
    elif parsed.drivername in _SQLITE_SCHEMES:
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername not in {"postgresql+asyncpg", "sqlite+aiosqlite"}:
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")
    return parsed.render_as_string(hide_password=False)


def _asyncpg_query(parsed: URL) -> URL:
    # libpq's sslmode is spelled "ssl" by asyncpg.
    if "sslmode" not in parsed.query:
        return parsed
    query = dict(parsed.query)
    query["ssl"] = query.pop("sslmode")
    return parsed.set(query=query)


def is_sqlite(url: str) -> bool:
    return make_url(normalize_database_url(url)).get_backend_name() == "sqlite"


def create_engine(url: str, **overrides: Any) -> AsyncEngine:
    """An async engine with a pre-pinged pool. SQLite connections get WAL (readers do not
    block the writer), enforced foreign keys and a busy timeout."""
    normalized = normalize_database_url(url)
    if is_sqlite(normalized):
        return _sqlite_engine(normalized, **overrides)
    options: dict[str, Any] = {
        "pool_size": 5,
        "max_overflow": 10,
        "pool_timeout": 10,
        "pool_recycle": 1800,
        "pool_pre_ping": True,
        "connect_args": {
            "timeout": CONNECT_TIMEOUT_S,
            "command_timeout": 300,
            # Room for a 100-asset price stage table in memory (adapters.sqlalchemy.postgres).
            "server_settings": {"temp_buffers": "32MB"},
        },
    }
    if "poolclass" in overrides:  # e.g. NullPool for one-shot tools: no pool sizing
        for sizing in ("pool_size", "max_overflow", "pool_timeout"):
            options.pop(sizing)
    # Caller connect_args refine the defaults instead of dropping them (e.g. temp_buffers).
    connect_args = {**options["connect_args"], **overrides.pop("connect_args", {})}
    options.update(overrides, connect_args=connect_args)
    return create_async_engine(normalized, **options)


def _sqlite_engine(url: str, **overrides: Any) -> AsyncEngine:
    database = make_url(url).database
    options: dict[str, Any] = {"pool_pre_ping": True}
    if not database or database == ":memory:":
        # One shared connection, or every checkout would see its own empty database.
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    options.update(overrides)
    engine = create_async_engine(url, **options)
    if database and database != ":memory:":
        event.listen(engine.sync_engine, "do_connect", _refuse_missing_directory(database))
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _refuse_missing_directory(database: str) -> Any:
    """Fail a connection to a file in a directory that does not exist before aiosqlite starts
    its worker thread: that thread outlives the failed attempt and later posts to a closed
    event loop. The error is the one sqlite3 itself raises, so it is translated the same way."""

    def check(dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
        directory = Path(database).parent
        if not directory.is_dir():
            raise sqlite3.OperationalError(
                f"unable to open database file: directory {directory} does not exist"
            )

    return check


# Execution option set by adapters.sqlalchemy.errors.transaction() on write transactions.
WRITE_TRANSACTION = "ii_write_transaction"


def _sqlite_begin(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is
    # locked" when another writer committed meanwhile (busy_timeout cannot help: its snapshot
    # is stale). Write transactions therefore take the write lock up front and wait for it.
    write = connection.get_execution_options().get(WRITE_TRANSACTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's implicit BEGIN is switched off: _sqlite_begin emits our own.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
