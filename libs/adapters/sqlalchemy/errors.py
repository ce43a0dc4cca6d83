"""Translate driver and SQLAlchemy errors into domain errors.

Use cases and the worker edge decide "retry later" (StorageUnavailable) versus "the request
contradicts the stored state" (Conflict, NotFound) without knowing which database answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.engine import WRITE_TRANSACTION
from domain.errors import Conflict, NotFound, StorageCredentialsRejected, StorageUnavailable

# SQLSTATEs that mean "try again": serialization failure, deadlock, too many connections,
# admin shutdown, cannot connect now, lock timeout, query cancelled by statement timeout.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "53300", "57P01", "57P02", "57P03", "55P03", "57014"}
# SQLSTATE class 28, invalid authorization: 28P01 a wrong password (the secret was rotated
# after this process read it), 28000 a role that does not exist or may not log in. The same
# credentials will never succeed, so this is not a transient outage.
_CREDENTIALS_REJECTED = {"28P01", "28000"}
_UNIQUE_VIOLATION = "23505"
_FK_VIOLATION = "23503"


def _sqlstate(error: BaseException) -> str | None:
    for candidate in (error, getattr(error, "orig", None), error.__cause__):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(state, str):
            return state
    orig = getattr(error, "orig", None)
    cause = getattr(orig, "__cause__", None)
    state = getattr(cause, "sqlstate", None)
    return state if isinstance(state, str) else None


def _integrity_error(error: sa_exc.IntegrityError) -> Exception:
    state = _sqlstate(error)
    text = str(error.orig).lower()
    if state == _FK_VIOLATION or "foreign key" in text:
        return NotFound("a referenced row does not exist")
    if state == _UNIQUE_VIOLATION or "unique" in text:
        return Conflict("a row with the same unique key already exists")
    return Conflict(f"integrity constraint violated: {error.orig}")


def translate(error: BaseException) -> Exception | None:
    """The domain error for a driver/SQLAlchemy error, or None when it is a programming
    error that should surface as is."""
    if _sqlstate(error) in _CREDENTIALS_REJECTED:
        # Neither the server's message (it names the role) nor the URL goes into the error.
        return StorageCredentialsRejected(
            f"database rejected the credentials (SQLSTATE {_sqlstate(error)})"
        )
    if isinstance(error, sa_exc.IntegrityError):
        return _integrity_error(error)
    if isinstance(error, sa_exc.DBAPIError) and (
        error.connection_invalidated
        or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
        or _sqlstate(error) in _TRANSIENT_SQLSTATES
    ):
        return StorageUnavailable(f"database unavailable: {type(error.orig).__name__}")
    if isinstance(
        error,
        sa_exc.TimeoutError  # pool exhausted
        | sa_exc.DisconnectionError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.TooManyConnectionsError
        | OSError  # connection refused / reset, DNS failure
        | asyncio.TimeoutError,
    ):
        return StorageUnavailable(f"database unavailable: {type(error).__name__}: {error}")
    if isinstance(error, asyncpg.PostgresError) and _sqlstate(error) in _TRANSIENT_SQLSTATES:
        return StorageUnavailable(f"database unavailable: {type(error).__name__}")
    if isinstance(error, asyncpg.UniqueViolationError):
        return Conflict("a row with the same unique key already exists")
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        return NotFound("a referenced row does not exist")
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise driver errors raised inside the block as domain errors (cause kept)."""
    try:
        yield
    except (TimeoutError, sa_exc.SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:  # fmt: skip
        domain_error = translate(error)
        if domain_error is None:
            raise
        raise domain_error from error


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction (committed when the block ends, rolled back on error) with errors
    translated."""
    with translated():
        async with engine.connect() as connection:
            await connection.execution_options(**{WRITE_TRANSACTION: True})
            async with connection.begin():
                yield connection


@asynccontextmanager
async def read_only(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads (no commit), with errors translated."""
    with translated():
        async with engine.connect() as connection:
            yield connection
