"""Price ingestion throughput on PostgreSQL: ``make bench-ingest`` (``python -m bench.ingest``).

In one run, on a fresh database created and dropped here (server: ``TEST_DATABASE_URL``, or
the local one), 1,000,000 bars (400 assets x 2,500 sessions) are written four ways:

- ``rows_per_s``: our new-history path (``SqlaPriceRepository.upsert_many`` on assets without
  rows: binary COPY straight into ``prices``), batches of 100 assets as the ingestor sends them;
- ``upsert_rows_per_s``: our upsert path (the same ``upsert_many``, which ``upsert`` calls) on
  half restated, half new rows: sessions after the last stored one are COPYed straight in; the
  overlap is COPYed into a stage table, the stored rows it changes are deleted, and all but the
  unchanged rows are COPYed in;
- ``copy_rows_per_s``: raw asyncpg ``copy_records_to_table`` of ready tuples (the ceiling);
- ``baseline_rows_per_s``: pandas ``DataFrame.to_sql`` (the original app's way).

Each is measured in interleaved rounds and the best kept (the machine is shared). Our paths
are timed from DataFrames (normalising and converting included); the ceiling is timed
from ready tuples. After each round of our paths the stored rows are checked against what
was written (not timed), so a fast but wrong path cannot pass. Results go to
``bench/results/ingest.json``; the last line printed is ``ingest: <N> rows/s, <R>x baseline``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy import SqlaAssetRepository, SqlaPriceRepository, create_engine, migrate
from adapters.sqlalchemy.bars import bar_records
from domain.model import Asset, AssetType, Currency, Exchange, Market

ASSETS = 400
SESSIONS = 2_500
BATCH_ASSETS = 100  # INGEST_BATCH_SIZE: what one ingest message carries
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
RESULTS = Path(__file__).resolve().parent / "results" / "ingest.json"
ROUNDS = 3
BASELINE_ROUNDS = 2  # to_sql takes ~10x longer; two samples keep the run under 5 minutes
TARGETS = {"vs_copy": 0.5, "upsert_rows_per_s": 150_000, "vs_baseline": 5.0}


# --- data ---------------------------------------------------------------------------------


def make_histories(asset_ids: list[int], seed: int = 7) -> dict[int, pd.DataFrame]:
    """Random-walk bars; about 1 % of volumes missing (NaN → NULL, as vendors deliver)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2010-01-04", periods=SESSIONS).date
    out: dict[int, pd.DataFrame] = {}
    for asset_id in asset_ids:
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, SESSIONS)))
        volume = rng.integers(1_000, 1_000_000, SESSIONS).astype("float64")
        volume[rng.random(SESSIONS) < 0.01] = np.nan
        out[asset_id] = pd.DataFrame(
            {
                "date": dates,
                "open": close * 0.999,
                "high": close * 1.01,
                "low": close * 0.99,
                "close": close,
                "adj_close": close * 0.98,
                "volume": volume,
            }
        )
    return out


def changed_half(histories: dict[int, pd.DataFrame]) -> dict[int, pd.DataFrame]:
    """The upsert workload: the first half of each history restated (+1 %), the rest new."""
    out = {}
    for asset_id, frame in histories.items():
        restated = frame.copy()
        half = SESSIONS // 2
        for column in ("open", "high", "low", "close", "adj_close"):
            restated.loc[: half - 1, column] *= 1.01
        out[asset_id] = restated
    return out


def batches(frames: dict[int, pd.DataFrame]) -> list[dict[int, pd.DataFrame]]:
    ids = list(frames)
    return [
        {i: frames[i] for i in ids[start : start + BATCH_ASSETS]}
        for start in range(0, len(ids), BATCH_ASSETS)
    ]


# --- database -----------------------------------------------------------------------------


def _connect_args(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "database": parsed.database or "postgres",
    }


async def create_bench_database(admin_url: str) -> str:
    name = f"ii_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(**_connect_args(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return (
        make_url(admin_url)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )


async def drop_bench_database(admin_url: str, url: str) -> None:
    conn = await asyncpg.connect(**_connect_args(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


async def truncate_prices(url: str) -> None:
    conn = await asyncpg.connect(**_connect_args(url))
    try:
        await conn.execute("TRUNCATE prices")
        await conn.execute("CHECKPOINT")  # start each measurement from the same clean state
    finally:
        await conn.close()


async def copy_records(url: str, records: list[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(**_connect_args(url))
    try:
        await conn.copy_records_to_table(
            "prices",
            records=records,
            columns=["asset_id", "date", "open", "high", "low", "close", "adj_close", "volume"],
        )
    finally:
        await conn.close()


async def count_prices(engine: AsyncEngine) -> int:
    return int(await SqlaPriceRepository(engine).count())


async def check_stored(url: str, expected: dict[int, pd.DataFrame]) -> None:
    """The table holds exactly ``expected``: row count, NULL volumes, and the sums of closes
    and volumes (a restated row left at its old value moves the close sum by 1 %)."""
    frame = pd.concat(expected.values())
    conn = await asyncpg.connect(**_connect_args(url))
    try:
        rows, nulls, closes, volumes = await conn.fetchrow(
            "SELECT count(*), count(*) - count(volume), sum(close), sum(volume) FROM prices"
        )
    finally:
        await conn.close()
    stored = (rows, nulls, closes, volumes)
    wanted = (len(frame), frame["volume"].isna().sum(), frame["close"].sum(), frame["volume"].sum())
    if rows != wanted[0] or nulls != wanted[1] or not np.allclose(stored, wanted, rtol=1e-9):
        raise RuntimeError(f"stored rows differ from those written: {stored} != {wanted}")


# --- measurements -------------------------------------------------------------------------


async def timed(work: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def measure_new_history(engine: AsyncEngine, histories: dict[int, pd.DataFrame]) -> float:
    repo = SqlaPriceRepository(engine)

    async def work() -> None:
        for batch in batches(histories):
            await repo.upsert_many(batch)

    return await timed(work)


async def measure_upsert(
    engine: AsyncEngine, url: str, histories: dict[int, pd.DataFrame]
) -> float:
    half = SESSIONS // 2
    preload = [r for i, f in histories.items() for r in bar_records(i, f.iloc[:half])]
    await copy_records(url, preload)  # the stored first half (not timed)
    workload = changed_half(histories)
    repo = SqlaPriceRepository(engine)

    async def work() -> None:
        for batch in batches(workload):
            await repo.upsert_many(batch)

    return await timed(work)


async def measure_raw_copy(url: str, histories: dict[int, pd.DataFrame]) -> float:
    records = [r for i, f in histories.items() for r in bar_records(i, f)]
    return await timed(lambda: copy_records(url, records))


def _sync_driver() -> str | None:
    for module, driver in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        try:
            __import__(module)
        except ImportError:
            continue
        return driver
    return None


async def measure_to_sql(
    engine: AsyncEngine, url: str, histories: dict[int, pd.DataFrame]
) -> tuple[float, str]:
    """pandas ``to_sql`` with its defaults. It needs a sync connection: a sync driver when
    one is installed, otherwise SQLAlchemy's sync facade over asyncpg (``run_sync``)."""
    frame = pd.concat([f.assign(asset_id=i) for i, f in histories.items()], ignore_index=True)
    driver = _sync_driver()
    if driver is not None:
        from sqlalchemy import create_engine as create_sync_engine

        sync_url = make_url(url).set(drivername=driver)
        sync_engine = create_sync_engine(sync_url)

        def load() -> None:
            with sync_engine.begin() as conn:
                frame.to_sql("prices", conn, if_exists="append", index=False)

        try:
            return await timed(lambda: asyncio.to_thread(load)), driver
        finally:
            sync_engine.dispose()

    async def work() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda c: frame.to_sql("prices", c, if_exists="append", index=False)
            )

    return await timed(work), "postgresql+asyncpg via SQLAlchemy run_sync (no sync driver)"


# --- report -------------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return pkg_metadata.version(package)
    except pkg_metadata.PackageNotFoundError:
        return None


async def machine_info(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(**_connect_args(url))
    try:
        server = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": server,
        "packages": {p: _version(p) for p in ("sqlalchemy", "asyncpg", "pandas", "numpy")},
    }


def report(
    rows: int, seconds: dict[str, float], baseline_method: str, machine: dict[str, Any]
) -> dict[str, Any]:
    rate = {name: rows / s for name, s in seconds.items()}
    vs_copy = rate["new_history"] / rate["copy"]
    vs_baseline = rate["new_history"] / rate["baseline"]
    return {
        "rows": rows,
        "assets": ASSETS,
        "sessions_per_asset": SESSIONS,
        "batch_assets": BATCH_ASSETS,
        "rows_per_s": round(rate["new_history"]),
        "upsert_rows_per_s": round(rate["upsert"]),
        "copy_rows_per_s": round(rate["copy"]),
        "baseline_rows_per_s": round(rate["baseline"]),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "vs_copy": round(vs_copy, 3),
        "vs_baseline": round(vs_baseline, 2),
        "baseline_method": f"pandas.DataFrame.to_sql (defaults) over {baseline_method}",
        "targets": {
            "new_history_at_least_half_of_copy": vs_copy >= TARGETS["vs_copy"],
            "upsert_at_least_150k_rows_per_s": rate["upsert"] >= TARGETS["upsert_rows_per_s"],
            "at_least_5x_baseline": vs_baseline >= TARGETS["vs_baseline"],
        },
        "machine": machine,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


async def run(admin_url: str) -> dict[str, Any]:
    url = await create_bench_database(admin_url)
    engine = create_engine(url)
    try:
        await migrate(url)
        stored = await SqlaAssetRepository(engine).upsert_many(
            [
                Asset(
                    ticker=f"B{i:04d}",
                    name=f"Bench {i}",
                    market=Market.US,
                    exchange=Exchange.NYSE,
                    currency=Currency.USD,
                    asset_type=AssetType.STOCK,
                )
                for i in range(ASSETS)
            ]
        )
        histories = make_histories([a.id for a in stored if a.id is not None])
        rows = sum(len(f) for f in histories.values())
        samples: dict[str, list[float]] = {
            "new_history": [],
            "upsert": [],
            "copy": [],
            "baseline": [],
        }
        method = ""
        # Interleaved rounds, best of each: the machine is shared, so one phase must not be
        # judged on a busy moment while another gets a quiet one.
        for round_no in range(ROUNDS):
            await truncate_prices(url)
            samples["new_history"].append(await measure_new_history(engine, histories))
            await check_stored(url, histories)
            await truncate_prices(url)
            samples["upsert"].append(await measure_upsert(engine, url, histories))
            await check_stored(url, changed_half(histories))
            await truncate_prices(url)
            samples["copy"].append(await measure_raw_copy(url, histories))
            if round_no < BASELINE_ROUNDS:
                await truncate_prices(url)
                elapsed, method = await measure_to_sql(engine, url, histories)
                samples["baseline"].append(elapsed)
                assert await count_prices(engine) == rows
        seconds = {name: min(values) for name, values in samples.items()}
        machine = await machine_info(url)
        machine["load_average_after"] = os.getloadavg()
        result = report(rows, seconds, method, machine)
        result["samples_seconds"] = {k: [round(v, 3) for v in vs] for k, vs in samples.items()}
        return result
    finally:
        await engine.dispose()
        await drop_bench_database(admin_url, url)


def main() -> None:
    admin_url = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    result = asyncio.run(run(admin_url))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    if "no sync driver" in result["baseline_method"]:
        print("note: no sync PostgreSQL driver installed; install psycopg[binary] for the "
              "original app's to_sql baseline")  # fmt: skip
    print(f"ingest: {result['rows_per_s']} rows/s, {result['vs_baseline']}x baseline")


if __name__ == "__main__":
    main()
