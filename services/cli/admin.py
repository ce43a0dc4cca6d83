"""One-shot administrative commands: migrate, seed, send."""

from __future__ import annotations

import sys
from typing import Any

from adapters.factories import open_queues, open_repositories
from adapters.settings import DatabaseSettings, ProviderSettings, QueueSettings
from domain.errors import InvalidMessage
from domain.messages import encode_message, parse_ingest_command


def migrate() -> int:
    from adapters.sqlalchemy import run_migrations

    run_migrations(DatabaseSettings().url())
    print("migrations applied", file=sys.stderr)
    return 0


async def seed(from_dir: str | None = None) -> int:
    from adapters.universe import seed_assets, seed_macro_series

    providers = ProviderSettings()
    directory = from_dir or (
        providers.market_data_dir if providers.market_data_provider == "csv" else None
    )
    if directory:
        from adapters.providers.csv import load_universe_csv

        assets = load_universe_csv(directory)
    else:
        assets = seed_assets()
    async with open_repositories(DatabaseSettings()) as repositories:
        stored = await repositories.assets.upsert_many(assets)
        await repositories.macro.upsert_series(seed_macro_series())
    print(
        f"seeded {len(stored)} assets and {len(seed_macro_series())} macro series", file=sys.stderr
    )
    return 0


async def send(body: dict[str, Any]) -> int:
    try:
        command = parse_ingest_command(body)
    except InvalidMessage as exc:
        print(f"insight-invest send: invalid command: {exc}", file=sys.stderr)
        return 2
    settings = QueueSettings()
    async with open_queues(settings, settings.ingest_queue_name) as queues:
        message_id = await queues[settings.ingest_queue_name].send(encode_message(command))
    print(message_id)
    return 0
