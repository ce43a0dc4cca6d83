"""Provenance of stored data over every store: which provider wrote an asset's prices (set in
the transaction that bumps its revision), a macro series' observations and an ingestion run."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from domain.errors import NotFound
from domain.model import AssetQuery, MacroFrequency, MacroSeries, Market
from domain.ports import Repositories
from tests.integration.repositories.conftest import Backend, make_asset, make_bars, make_run
from tests.integration.repositories.test_price_writes import _Crash, _crash_midway

SERIES = MacroSeries(code="DGS10", name="10y", frequency=MacroFrequency.DAILY, units="percent")


async def _asset_id(repos: Repositories) -> int:
    (asset,) = await repos.assets.upsert_many([make_asset()])
    assert asset.id is not None and asset.prices_source is None
    return asset.id


async def _source_and_revision(repos: Repositories, asset_id: int) -> tuple[str | None, int]:
    asset = await repos.assets.get(asset_id)
    assert asset is not None
    return asset.prices_source, asset.prices_revision


async def test_each_price_write_records_its_provider_with_the_revision(
    repos: Repositories,
) -> None:
    asset_id = await _asset_id(repos)

    await repos.prices.upsert(asset_id, make_bars(5), "sample")
    assert await _source_and_revision(repos, asset_id) == ("sample", 1)

    await repos.prices.replace(asset_id, make_bars(3, base=7.0), "yfinance")
    assert await _source_and_revision(repos, asset_id) == ("yfinance", 2)

    # A writer that does not say where its bars came from leaves the history unlabelled.
    await repos.prices.upsert(asset_id, make_bars(1, base=9.0))
    assert await _source_and_revision(repos, asset_id) == (None, 3)


async def test_every_asset_read_carries_the_prices_source(repos: Repositories) -> None:
    (asset,) = await repos.assets.upsert_many([make_asset()])
    assert asset.id is not None
    await repos.prices.upsert(asset.id, make_bars(2), "sample")

    found = await repos.assets.find([asset.id, asset.ticker])
    listed = await repos.assets.list(AssetQuery(text=asset.ticker))
    by_market = await repos.assets.by_market(Market.US, [asset.ticker])

    sources = [a.prices_source for a in (*found.values(), *listed.items, *by_market)]
    assert sources == ["sample"] * 4


async def test_updating_an_asset_keeps_its_prices_source(repos: Repositories) -> None:
    asset = make_asset()
    (stored,) = await repos.assets.upsert_many([asset])
    assert stored.id is not None
    await repos.prices.upsert(stored.id, make_bars(2), "csv")

    (renamed,) = await repos.assets.upsert_many([replace(asset, name="Renamed Inc")])

    assert (renamed.prices_source, renamed.prices_revision) == ("csv", 1)
    assert await _source_and_revision(repos, stored.id) == ("csv", 1)


async def test_a_batch_of_assets_is_recorded_under_one_provider(repos: Repositories) -> None:
    first, second = await repos.assets.upsert_many([make_asset(), make_asset()])
    assert first.id is not None and second.id is not None

    await repos.prices.upsert_many(  # type: ignore[attr-defined]
        {first.id: make_bars(3), second.id: make_bars(4)}, "sample"
    )

    assert await _source_and_revision(repos, first.id) == ("sample", 1)
    assert await _source_and_revision(repos, second.id) == ("sample", 1)


# The in-memory fake swaps whole frames: there is no midway to break.
@pytest.mark.parametrize(
    "backend_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_write_that_fails_midway_leaves_the_source_as_it_was(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    repos = backend.repos
    asset_id = await _asset_id(repos)
    await repos.prices.upsert(asset_id, make_bars(10), "sample")
    _crash_midway(backend, monkeypatch)

    with pytest.raises(_Crash):
        await repos.prices.upsert(asset_id, make_bars(15, base=1.0), "yfinance")

    monkeypatch.undo()
    assert await _source_and_revision(repos, asset_id) == ("sample", 1)
    pd.testing.assert_frame_equal(await repos.prices.read(asset_id), make_bars(10))


async def test_macro_observations_record_their_provider_and_the_catalog_keeps_it(
    repos: Repositories,
) -> None:
    await repos.macro.upsert_series([SERIES])
    assert (await repos.macro.get_series("DGS10")).source is None  # type: ignore[union-attr]
    observations = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3).date})
    observations["value"] = [4.0, 4.1, 4.2]

    await repos.macro.upsert_observations("DGS10", observations, "fred")
    await repos.macro.upsert_series([replace(SERIES, name="10-year yield")])

    [listed] = await repos.macro.list_series()
    fetched = await repos.macro.get_series("DGS10")
    assert (listed.name, listed.source) == ("10-year yield", "fred")
    assert fetched is not None and fetched.source == "fred"


async def test_replacing_observations_drops_the_old_history_and_relabels_it(
    repos: Repositories,
) -> None:
    await repos.macro.upsert_series([SERIES])
    old = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=5).date, "value": 1.0})
    new = pd.DataFrame({"date": pd.date_range("2020-01-03", periods=2).date, "value": 2.0})
    await repos.macro.upsert_observations("DGS10", old, "sample")

    assert await repos.macro.replace_observations("DGS10", new, "fred") == 2

    stored = await repos.macro.read_observations("DGS10")
    assert stored["date"].tolist() == new["date"].tolist()
    assert stored["value"].tolist() == [2.0, 2.0]
    assert (await repos.macro.get_series("DGS10")).source == "fred"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await repos.macro.replace_observations("NOPE", new, "fred")


async def test_an_ingestion_run_keeps_the_provider_that_served_it(repos: Repositories) -> None:
    run = await repos.runs.add(make_run(source="sample"))
    unrecorded = await repos.runs.add(make_run())

    assert (await repos.runs.get(run.id)).source == "sample"  # type: ignore[union-attr]
    assert (await repos.runs.get(unrecorded.id)).source is None  # type: ignore[union-attr]
    listed = {r.id: r.source for r in (await repos.runs.list(10, None)).items}
    assert listed == {run.id: "sample", unrecorded.id: None}
