"""Macro, result, portfolio, ingestion-run and health contracts, over every implementation."""

from __future__ import annotations

import math
import uuid
from datetime import date, timedelta

import pandas as pd
import pytest

from domain.errors import Conflict, NotFound
from domain.model import BacktestResult, MacroFrequency, MacroSeries, Portfolio, RunStatus
from domain.ports import Repositories
from tests.integration.repositories.conftest import T0, make_job, make_run

CPI = MacroSeries(code="CPIAUCSL", name="CPI", frequency=MacroFrequency.MONTHLY, units="index")


async def test_missing_macro_value_is_stored_as_null_and_read_back_as_nan(
    repos: Repositories,
) -> None:
    await repos.macro.upsert_series([CPI])
    obs = pd.DataFrame(
        {"date": [date(2024, 1, 1), date(2024, 2, 1)], "value": [300.5, float("nan")]}
    )

    assert await repos.macro.upsert_observations("CPIAUCSL", obs) == 2

    read = await repos.macro.read_observations("CPIAUCSL")
    assert read["date"].tolist() == [date(2024, 1, 1), date(2024, 2, 1)]
    assert read["value"].iloc[0] == 300.5 and math.isnan(read["value"].iloc[1])
    assert await repos.macro.last_dates() == {"CPIAUCSL": date(2024, 2, 1)}


async def test_macro_observations_upsert_by_date_and_filter_by_range(repos: Repositories) -> None:
    await repos.macro.upsert_series([CPI])
    dates = [date(2024, m, 1) for m in range(1, 5)]
    await repos.macro.upsert_observations("CPIAUCSL", pd.DataFrame({"date": dates, "value": 1.0}))
    revised = pd.DataFrame({"date": [date(2024, 2, 1)], "value": [2.0]})

    await repos.macro.upsert_observations("CPIAUCSL", revised)

    window = await repos.macro.read_observations("CPIAUCSL", date(2024, 2, 1), date(2024, 3, 1))
    assert window["value"].tolist() == [2.0, 1.0]


async def test_macro_catalog_upserts_by_code(repos: Repositories) -> None:
    await repos.macro.upsert_series([CPI])
    renamed = MacroSeries(code="CPIAUCSL", name="CPI-U", frequency=CPI.frequency, units="idx")
    await repos.macro.upsert_series([renamed])

    assert await repos.macro.list_series() == [renamed]
    assert await repos.macro.get_series("NOPE") is None
    with pytest.raises(NotFound):
        await repos.macro.upsert_observations("NOPE", pd.DataFrame({"date": [], "value": []}))


async def test_a_result_is_saved_once_per_job(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())
    first = BacktestResult(job_id=job.id, metrics={"cagr": 0.1, "sortino": None},
                           nav={"dates": ["2024-01-02"], "values": [1000.0]})  # fmt: skip
    second = BacktestResult(
        job_id=job.id,
        metrics={"cagr": 0.2},
        nav={"dates": ["2024-01-02", "2024-01-03"], "values": [1000.0, 1001.5]},
        benchmark={"dates": ["2024-01-02"], "values": [1000.0]},
        weights=[{"date": "2024-01-02", "weights": {"SPY": 1.0}}],
        analytics={"drawdowns": []},
        created_at=T0,
    )

    await repos.results.save(first)
    assert await repos.results.get(job.id) == first
    await repos.results.save(second)

    assert await repos.results.get(job.id) == second
    assert await repos.results.get(uuid.uuid4()) is None


async def test_portfolio_names_are_unique(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())
    saved = await repos.portfolios.add(
        Portfolio(id=uuid.uuid4(), name="GEM", job_id=job.id, created_at=T0)
    )

    with pytest.raises(Conflict):
        await repos.portfolios.add(
            Portfolio(id=uuid.uuid4(), name="GEM", job_id=job.id, created_at=T0)
        )

    assert await repos.portfolios.list() == [saved]
    assert await repos.portfolios.get(saved.id) == saved


async def test_portfolios_list_newest_first_and_delete(repos: Repositories) -> None:
    job = await repos.jobs.add(make_job())
    old = Portfolio(id=uuid.uuid4(), name="old", job_id=job.id, created_at=T0)
    new = Portfolio(id=uuid.uuid4(), name="new", job_id=job.id, created_at=T0 + timedelta(1))
    for p in (old, new):
        await repos.portfolios.add(p)

    assert await repos.portfolios.list() == [new, old]
    assert await repos.portfolios.delete(old.id)
    assert not await repos.portfolios.delete(old.id)
    assert await repos.portfolios.list() == [new]


async def test_run_update_overwrites_its_outcome(repos: Repositories) -> None:
    run = await repos.runs.add(make_run())
    from dataclasses import replace

    done = replace(
        run,
        status=RunStatus.PARTIAL,
        counts={"assets_ok": 2, "assets_failed": 1},
        failures=[{"asset": "XYZ", "reason": "unknown symbol"}],
        issues=[{"asset": "AAPL", "issue": "restated"}],
        finished_at=T0 + timedelta(minutes=1),
        heartbeat_at=T0 + timedelta(seconds=30),
    )

    await repos.runs.update(done)

    assert await repos.runs.get(run.id) == done
    with pytest.raises(NotFound):
        await repos.runs.update(make_run())


async def test_runs_list_newest_first_and_children_in_start_order(repos: Repositories) -> None:
    parent = await repos.runs.add(make_run(T0))
    kids = [
        await repos.runs.add(make_run(T0 + timedelta(seconds=i + 1), parent_id=parent.id))
        for i in range(3)
    ]

    first = await repos.runs.list(2, None)
    rest = await repos.runs.list(10, first.next_cursor)

    assert [r.id for r in first.items + rest.items] == [k.id for k in reversed(kids)] + [parent.id]
    assert rest.next_cursor is None
    assert await repos.runs.children(parent.id) == kids
    only_kids = await repos.runs.list(10, None, parent_id=parent.id)
    assert {r.id for r in only_kids.items} == {k.id for k in kids}


async def test_runs_whose_heartbeat_stopped_are_abandoned(repos: Repositories) -> None:
    stale = await repos.runs.add(make_run(T0, heartbeat_at=T0))
    live = await repos.runs.add(make_run(T0, heartbeat_at=T0 + timedelta(minutes=10)))
    finished = await repos.runs.add(make_run(T0, status=RunStatus.SUCCEEDED))
    now = T0 + timedelta(minutes=11)

    assert await repos.runs.abandon_stale(T0 + timedelta(minutes=5), now) == 1

    closed = await repos.runs.get(stale.id)
    assert closed is not None and closed.status == RunStatus.ABANDONED
    assert closed.finished_at == now
    assert (await repos.runs.get(live.id)).status == RunStatus.RUNNING  # type: ignore[union-attr]
    assert (await repos.runs.get(finished.id)).status == RunStatus.SUCCEEDED  # type: ignore[union-attr]


async def test_health_check_passes_when_the_store_answers(repos: Repositories) -> None:
    await repos.health.check()
    assert repos.health.name == "database"
