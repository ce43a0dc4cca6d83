"""Run the Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

from adapters.sqlalchemy.engine import normalize_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` (pass it to ``alembic.command`` functions)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    config.set_main_option("path_separator", "os")
    # Kept out of the ini options: those are %-interpolated and would mangle passwords.
    config.attributes["database_url"] = normalize_database_url(url)
    return config


def run_migrations(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (blocking).

    The migration environment drives its async engine with ``asyncio.run``; when the caller's
    thread already runs an event loop the work moves to a helper thread, so this is safe from
    the CLI, from a worker thread and from sync code called inside a loop.
    """
    _in_own_thread(lambda: command.upgrade(alembic_config(url), revision))


def downgrade_migrations(url: str, revision: str) -> None:
    """Downgrade the database at ``url`` to ``revision`` (``"base"`` drops everything)."""
    _in_own_thread(lambda: command.downgrade(alembic_config(url), revision))


async def migrate(url: str, revision: str = "head") -> None:
    """Async form of ``run_migrations`` (the event loop keeps running meanwhile)."""
    await asyncio.to_thread(run_migrations, url, revision)


def _in_own_thread(work: Callable[[], None]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        work()
        return
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="alembic-migrate")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
