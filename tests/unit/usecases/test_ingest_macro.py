"""IngestMacro: revisions are picked up, missing values stay missing, reruns change nothing."""

from __future__ import annotations

import math
import uuid
from datetime import date

import pandas as pd
import pytest

from adapters.clock import ManualClock
from adapters.memory import build_memory_repositories
from adapters.memory.providers import InMemoryMacroDataProvider
from domain.messages import UpdateMacro
from domain.model import MacroFrequency, MacroSeries, RunStatus
from domain.usecases.ingest_macro import IngestMacro, MacroOptions

CPI = MacroSeries(
    code="CPIAUCSL", name="CPI", frequency=MacroFrequency.MONTHLY, units="index 1982-84=100"
)


def monthly(values: list[float | None], start: str = "2024-01-01") -> pd.DataFrame:
    dates = [d.date() for d in pd.date_range(start, periods=len(values), freq="MS")]
    return pd.DataFrame({"date": dates, "value": [math.nan if v is None else v for v in values]})


@pytest.fixture
def setup():
    repos = build_memory_repositories()
    provider = InMemoryMacroDataProvider({CPI: monthly([300.0, 301.0, None, 303.0])})
    use_case = IngestMacro(
        repositories=repos,
        provider=provider,
        clock=ManualClock(),
        options=MacroOptions(revision_window=2),
    )
    return repos, provider, use_case


async def test_missing_values_are_stored_as_missing_not_zero_or_dropped(setup):
    repos, _, ingest = setup

    run = await ingest(UpdateMacro(), run_id=uuid.uuid4())

    stored = await repos.macro.read_observations("CPIAUCSL")
    assert run.status is RunStatus.SUCCEEDED and len(stored) == 4
    assert math.isnan(stored["value"].iloc[2])
    assert [s.code for s in await repos.macro.list_series()] == ["CPIAUCSL"]


async def test_revisions_within_the_window_replace_old_values_and_reruns_write_nothing(setup):
    repos, provider, ingest = setup
    await ingest(UpdateMacro(), run_id=uuid.uuid4())
    provider.observations["CPIAUCSL"] = monthly([300.0, 301.0, 302.5, 303.1, 304.0])

    revised = await ingest(UpdateMacro(), run_id=uuid.uuid4())
    again = await ingest(UpdateMacro(), run_id=uuid.uuid4())

    stored = await repos.macro.read_observations("CPIAUCSL")
    assert stored["value"].tolist()[2:] == [302.5, 303.1, 304.0]
    assert revised.counts["rows_written"] == 3
    assert again.counts["rows_written"] == 0
    # Only the revision window was fetched again, not the whole history.
    assert provider.calls[-1] == ("CPIAUCSL", date(2024, 4, 1))


async def test_an_unknown_series_is_a_recorded_failure(setup):
    _, _, ingest = setup

    run = await ingest(UpdateMacro(series=["CPIAUCSL", "NOPE"]), run_id=uuid.uuid4())

    assert run.status is RunStatus.PARTIAL
    assert run.failures == [{"subject": "NOPE", "reason": "unknown series NOPE"}]


async def test_the_run_and_the_series_name_the_provider_that_served_them(setup):
    repos, _, ingest = setup

    run = await ingest(UpdateMacro(), run_id=uuid.uuid4())

    assert run.source == "memory"
    series = await repos.macro.get_series("CPIAUCSL")
    assert series is not None and series.source == "memory"


async def test_observations_from_another_provider_are_replaced_whole_never_mixed(setup):
    repos, provider, ingest = setup
    await repos.macro.upsert_series([CPI])
    sample = monthly([250.0, 251.0, 252.0, 253.0, 254.0, 255.0], start="2023-10-01")
    await repos.macro.upsert_observations("CPIAUCSL", sample, "sample")
    provider.name = "fred"

    run = await ingest(UpdateMacro(), run_id=uuid.uuid4())

    stored = await repos.macro.read_observations("CPIAUCSL")
    assert stored["date"].tolist() == provider.observations["CPIAUCSL"]["date"].tolist()
    assert stored["value"].tolist()[:2] == [300.0, 301.0]
    assert provider.calls[-1] == ("CPIAUCSL", None)
    series = await repos.macro.get_series("CPIAUCSL")
    assert series is not None and series.source == "fred"
    assert [(i["series"], i["kind"]) for i in run.issues] == [("CPIAUCSL", "source_changed")]
