"""Find, or start, the PostgreSQL server the tests use.

Order: ``TEST_DATABASE_URL`` (default: the local server on 127.0.0.1:5432, database ``test``);
where none answers but PostgreSQL's server binaries are installed, a throwaway cluster in a
temporary directory; otherwise a failure that says how to get one. Never a silent skip.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass
class PostgresServer:
    admin_url: str
    cleanup: list

    def close(self) -> None:
        for step in reversed(self.cleanup):
            step()


def _reachable(url: str) -> bool:
    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5432), timeout=2):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_binaries() -> str | None:
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(candidates[-1]) if candidates else None


def _start_throwaway_cluster(bindir: str) -> PostgresServer:
    workdir = tempfile.mkdtemp(prefix="ii-pg-")
    datadir = os.path.join(workdir, "data")
    port = _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(workdir, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, f"{bindir}/initdb", "-D", datadir, "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            f"{bindir}/pg_ctl",
            "-D",
            datadir,
            "-w",
            "-l",
            os.path.join(workdir, "log"),
            "-o",
            f"-p {port} -k {workdir} -h 127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )

    def stop() -> None:
        subprocess.run(
            [*run_as, f"{bindir}/pg_ctl", "-D", datadir, "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)

    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    return PostgresServer(admin_url=url, cleanup=[stop])


def find_or_start_server() -> PostgresServer:
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_URL)
    if _reachable(url):
        return PostgresServer(admin_url=url, cleanup=[])
    bindir = _server_binaries()
    if bindir:
        return _start_throwaway_cluster(bindir)
    raise RuntimeError(
        f"No PostgreSQL answers at {make_url(url).render_as_string(hide_password=True)} and no "
        "server binaries are installed to start one. Start PostgreSQL (e.g. `apt-get install "
        "postgresql` then `pg_ctlcluster 15 main start`) or set TEST_DATABASE_URL."
    )


async def connect_admin(admin_url: str) -> Any:
    """An asyncpg connection as the server's admin (CREATE/DROP DATABASE, roles)."""
    import asyncpg

    parsed = make_url(admin_url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database or "postgres",
    )


async def create_database(admin_url: str, prefix: str = "ii_test") -> str:
    """Create a fresh, uniquely named database and return its URL (so parallel test runs and
    developers' sessions never collide)."""
    parsed = make_url(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await connect_admin(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return parsed.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )


async def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    for _ in range(5):
        conn = await connect_admin(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except Exception:
            await asyncio.sleep(0.5)
        finally:
            await conn.close()
