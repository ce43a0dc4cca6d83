"""Driver errors become domain errors: retry later, conflict, or not found."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from adapters.sqlalchemy.errors import translate
from domain.errors import Conflict, NotFound, StorageUnavailable


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (sa_exc.OperationalError("SELECT 1", {}, Exception("database is locked")), StorageUnavailable),
        (sa_exc.DBAPIError("SELECT 1", {}, Exception("reset"), connection_invalidated=True), StorageUnavailable),
        (sa_exc.TimeoutError("QueuePool limit reached"), StorageUnavailable),
        (ConnectionRefusedError(111, "Connect call failed"), StorageUnavailable),
        (asyncpg.exceptions.SerializationError("could not serialize"), StorageUnavailable),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock detected"), StorageUnavailable),
        (sa_exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: x")), Conflict),
        (sa_exc.IntegrityError("INSERT", {}, Exception("FOREIGN KEY constraint failed")), NotFound),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), Conflict),
    ],
)  # fmt: skip
def test_driver_errors_map_to_domain_errors(error: BaseException, expected: type) -> None:
    assert isinstance(translate(error), expected)


def test_programming_errors_are_not_disguised_as_outages() -> None:
    assert translate(sa_exc.ProgrammingError("SELECT nope", {}, Exception("syntax"))) is None
    assert translate(sa_exc.ArgumentError("bad argument")) is None
