"""Several tasks migrating the same fresh database at once (one migrate per gateway task on
ECS) must all succeed and leave exactly one schema at head."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.support.postgres import create_database, drop_database

pytestmark = pytest.mark.postgres


async def test_concurrent_migrations_serialise_on_postgres(postgres_server: str) -> None:
    url = await create_database(postgres_server, prefix="ii_migrate")
    try:
        # Every process imports first, then all start migrating at the same instant (without
        # the lock, two of them create alembic_version at once and one fails).
        code = (
            "import sys, time; from adapters.sqlalchemy import run_migrations; "
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); run_migrations(sys.argv[1])"
        )
        start_at = str(time.time() + 40)
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                code,
                url,
                start_at,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(3)
        ]
        outcomes = [await p.communicate() for p in processes]
        assert [p.returncode for p in processes] == [0, 0, 0], [
            e.decode()[-2000:] for _, e in outcomes
        ]
        parsed = make_url(url)
        connection = await asyncpg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
        )
        try:
            versions = await connection.fetch("SELECT version_num FROM alembic_version")
        finally:
            await connection.close()
        assert len(versions) == 1
    finally:
        await drop_database(postgres_server, url)
