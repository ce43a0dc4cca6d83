"""EMF lines are the contract with the CloudWatch alarms in deploy/templates/monitoring.yaml."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

from adapters.clock import ManualClock
from adapters.memory import build_memory_repositories
from adapters.memory.providers import InMemoryMarketDataProvider
from adapters.memory.queue import InMemoryMessageQueue
from adapters.telemetry import EmfTelemetry, RecordingTelemetry
from domain.messages import UpdatePrices, parse_message
from domain.model import IngestionRun, JobStatus, Market, RunStatus, RunTrigger
from domain.usecases.ingest_prices import IngestOptions, IngestPrices
from tests.unit.usecases.factories import bars, business_days, us_asset


def emitted(telemetry_call) -> dict:
    stream = io.StringIO()
    telemetry_call(EmfTelemetry("InsightInvest", "prod", stream=stream))
    [line] = stream.getvalue().splitlines()
    return json.loads(line)


def test_an_ingestion_run_becomes_one_emf_line_with_the_alarm_dimensions():
    start = datetime(2026, 11, 26, 9, tzinfo=UTC)
    run = IngestionRun(
        id=uuid.uuid4(),
        command={"market": "US"},
        command_type="update_prices",
        trigger=RunTrigger.SCHEDULE,
        status=RunStatus.PARTIAL,
        started_at=start,
        finished_at=start + timedelta(seconds=42),
        counts={"rows_written": 120, "assets_failed": 2},
    )

    line = emitted(lambda t: t.ingestion_run_finished(run, "US"))

    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "InsightInvest"
    assert directive["Dimensions"] == [["Environment", "Market"]]
    assert {m["Name"] for m in directive["Metrics"]} == {
        "IngestionRunSucceeded",
        "IngestionRunDuration",
        "IngestionRowsWritten",
        "IngestionAssetsFailed",
    }
    assert (line["Environment"], line["Market"]) == ("prod", "US")
    assert line["IngestionRunSucceeded"] == 1  # single-asset failures still count as a run that ran
    assert (
        line["IngestionRunDuration"],
        line["IngestionRowsWritten"],
        line["IngestionAssetsFailed"],
    ) == (42.0, 120, 2)


def test_a_failed_job_reports_zero_success():
    line = emitted(lambda t: t.backtest_job_finished(JobStatus.FAILED, 1.5))

    assert line["BacktestJobSucceeded"] == 0 and line["BacktestJobDuration"] == 1.5
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment"]]


async def test_a_fanned_out_market_is_reported_once_through_its_parent():
    repos, queue, telemetry = (
        build_memory_repositories(),
        InMemoryMessageQueue("ingest"),
        RecordingTelemetry(),
    )
    provider = InMemoryMarketDataProvider()
    await repos.assets.upsert_many([us_asset(t) for t in ("A", "B", "C")])
    for i, ticker in enumerate(("A", "B", "C")):
        provider.histories[ticker] = bars(business_days("2020-01-01", "2020-01-31"), seed=i)
    ingest = IngestPrices(
        repositories=repos,
        provider=provider,
        queue=queue,
        clock=ManualClock(),
        options=IngestOptions(batch_size=2),
        telemetry=telemetry,
    )

    await ingest(UpdatePrices(market=Market.US), run_id=uuid.uuid4())
    assert telemetry.runs == []  # the parent waits for its children
    for message in await queue.receive(10, 0, 30):
        await ingest(parse_message(message.body), run_id=uuid.uuid4())

    [(run, market)] = telemetry.runs
    assert market == "US" and run.parent_id is None and run.counts["assets_ok"] == 3
