"""One-shot administrative commands: migrate, seed, send."""

from __future__ import annotations

import os
import sys
from typing import Any

from adapters.factories import open_queues, open_repositories
from adapters.settings import DatabaseSettings, ProviderSettings, QueueSettings
from adapters.sqs.queue import SqsConfigurationError, redact_endpoint
from domain.errors import InvalidMessage, QueueUnavailable
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


async def send(body: dict[str, Any], *, local: bool = False) -> int:
    """Post ``body`` to the ingest queue: the SQS that the environment names (AWS with the
    caller's credentials when SQS_ENDPOINT_URL is unset), or with ``local`` the endpoint that
    `make run` serves on LOCAL_SQS_PORT, with dummy credentials."""
    try:
        command = parse_ingest_command(body)
    except InvalidMessage as exc:
        print(f"insight-invest send: invalid command: {exc}", file=sys.stderr)
        return 2
    if local and (problem := _use_local_endpoint()):
        print(f"insight-invest send --local: {problem}", file=sys.stderr)
        return 1
    settings = QueueSettings()
    target = f"queue {settings.ingest_queue_name!r} on {_describe_endpoint(settings)}"
    try:
        async with open_queues(settings, settings.ingest_queue_name) as queues:
            message_id = await queues[settings.ingest_queue_name].send(encode_message(command))
    except SqsConfigurationError as exc:
        print(f"insight-invest send: {exc}", file=sys.stderr)
        return 1
    except QueueUnavailable as exc:
        print(f"insight-invest send: could not post to {target}: {exc}", file=sys.stderr)
        if not settings.sqs_endpoint_url:
            print(
                "  (for the stack that `make run` started, use `insight-invest send --local`)",
                file=sys.stderr,
            )
        return 1
    print(f"posted {command.type} to {target}", file=sys.stderr)
    print(message_id)
    return 0


def _describe_endpoint(settings: QueueSettings) -> str:
    if settings.sqs_endpoint_url:
        return redact_endpoint(settings.sqs_endpoint_url)
    return f"AWS SQS in {settings.aws_region} (no SQS_ENDPOINT_URL)"


def _use_local_endpoint() -> str | None:
    """Point this process at the local SQS endpoint with dummy credentials, so that nothing
    in the caller's environment (SQS_ENDPOINT_URL, keys, profile) can send it to AWS. Returns
    why that is impossible, if it is."""
    from cli.dev import AWS_IDENTITY_OVERRIDES, LOCAL_AWS, SettingError, local_sqs_port, port_in_use

    try:
        port = local_sqs_port(os.environ)
    except SettingError as exc:
        return str(exc)
    url = f"http://127.0.0.1:{port}"
    if not port_in_use(port):
        return (
            f"nothing listens on {url}: start the stack with `make run` first (with the same "
            "LOCAL_SQS_PORT, if you set one)"
        )
    os.environ["SQS_ENDPOINT_URL"] = url
    os.environ.update(LOCAL_AWS)
    for key in AWS_IDENTITY_OVERRIDES:
        os.environ.pop(key, None)
    return None
