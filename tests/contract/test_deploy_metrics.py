"""The custom metrics the alarms and the dashboard read are the ones the services emit.

The ingestor's and the backtester's telemetry is built the way the services build it, from the
environment their task definitions set (METRICS_NAMESPACE, ENVIRONMENT); a sample ingestion run
for each scheduled command and a backtest job go through it, and the EMF lines it prints are
parsed as CloudWatch would. Every (namespace, metric, dimensions) the monitoring template reads in
the project's namespace must be among them. AWS's own namespaces (ALB, RDS, SQS) are not ours to
emit, so they are not checked here.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.contract.deploy_support import (
    apply_input_transformer,
    load_template,
    resources,
    sample_scheduled_event,
)

APP = load_template("app")
MESSAGING = load_template("messaging")
MONITORING = load_template("monitoring")
ENV_NAME = "ct-metrics"

Metric = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, name, dimensions


def _resolve(value: Any) -> str:
    """A task definition or alarm value as CloudFormation resolves it for ``ENV_NAME``."""
    if value == {"Ref": "EnvName"}:
        return ENV_NAME
    assert isinstance(value, str | int | float), f"unexpected intrinsic {value}"
    return str(value)


def _task_environment(service: str) -> dict[str, str]:
    for task in resources(APP, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            if container["Essential"] and container["Command"] == [service]:
                return {
                    item["Name"]: _resolve(item["Value"])
                    for item in container["Environment"]
                    if item["Name"] in {"METRICS_NAMESPACE", "ENVIRONMENT"}
                }
    raise AssertionError(f"no task definition runs {service}")


def _scheduled_commands() -> list[dict[str, Any]]:
    """The bodies the three schedules put on the ingest queue."""
    commands = []
    for rule in resources(MESSAGING, "AWS::Events::Rule").values():
        transformer = rule["Properties"]["Targets"][0]["InputTransformer"]
        event = sample_scheduled_event("arn:aws:events:rule/sample", datetime(2026, 11, 24, 9))
        commands.append(json.loads(apply_input_transformer(transformer, event)))
    return commands


def _emitted(lines: str) -> set[Metric]:
    """What CloudWatch extracts from EMF lines: each metric under each dimension set."""
    metrics: set[Metric] = set()
    for line in lines.splitlines():
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = frozenset((name, str(record[name])) for name in dimension_set)
                for metric in directive["Metrics"]:
                    assert metric["Name"] in record, f"{metric['Name']} has no value"
                    metrics.add((directive["Namespace"], metric["Name"], dimensions))
    return metrics


def _emit_as(service: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from adapters.factories import build_telemetry
    from adapters.settings import TelemetrySettings

    for name, value in _task_environment(service).items():
        monkeypatch.setenv(name, value)
    telemetry = build_telemetry(TelemetrySettings())
    assert telemetry is not None, f"{service}: its task definition switches metrics off"
    return telemetry


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> set[Metric]:
    from domain.model import IngestionRun, JobStatus, RunStatus, RunTrigger
    from domain.usecases.runs import report_finished

    capsys.readouterr()
    ingestor = _emit_as("ingestor", monkeypatch)
    started = datetime(2026, 11, 24, 9, tzinfo=UTC)
    for command in _scheduled_commands():
        run = IngestionRun(
            id=uuid.uuid4(),
            command=command,
            command_type=command["type"],
            trigger=RunTrigger.SCHEDULE,
            status=RunStatus.SUCCEEDED,
            started_at=started,
            finished_at=started + timedelta(minutes=3),
            counts={"assets_ok": 2, "rows_written": 40},
        )
        report_finished(ingestor, run)  # how the ingestor reports a finished top-level run
    backtester = _emit_as("backtester", monkeypatch)
    backtester.backtest_job_finished(JobStatus.SUCCEEDED, 12.5)
    return _emitted(capsys.readouterr().out)


def _namespace() -> str:
    namespaces = {_task_environment(s)["METRICS_NAMESPACE"] for s in ("ingestor", "backtester")}
    (namespace,) = namespaces
    return namespace


def _alarm_metrics() -> set[Metric]:
    read: set[Metric] = set()
    for alarm in resources(MONITORING, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        stats = [properties] + [
            m["MetricStat"]["Metric"] for m in properties.get("Metrics", []) if "MetricStat" in m
        ]
        for stat in stats:
            if "MetricName" not in stat:
                continue
            dimensions = frozenset(
                (d["Name"], _resolve(d["Value"]))
                for d in stat.get("Dimensions", [])
                if not isinstance(d["Value"], dict) or "Ref" in d["Value"]
            )
            if len(dimensions) == len(stat.get("Dimensions", [])):
                read.add((stat["Namespace"], stat["MetricName"], dimensions))
    return read


def _expand_rows(rows: list[list[Any]]) -> list[list[str]]:
    """CloudWatch's dashboard shorthand written out: ``"..."`` repeats the previous row with its
    last items replaced by the ones that follow, ``"."`` repeats the item above."""
    expanded: list[list[str]] = []
    previous: list[str] = []
    for row in rows:
        items = [item for item in row if isinstance(item, str)]
        if not items:  # a math expression row
            continue
        if items[0] == "...":
            rest = items[1:]
            items = previous[: len(previous) - len(rest)] + rest
        else:
            items = [previous[i] if item == "." else item for i, item in enumerate(items)]
        expanded.append(items)
        previous = items
    return expanded


def _dashboard_metrics() -> set[Metric]:
    body, _variables = MONITORING["Resources"]["Dashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"
    ]
    rendered = re.sub(
        r"\$\{([^}]+)\}", lambda m: ENV_NAME if m.group(1) == "EnvName" else "3", body
    )
    read: set[Metric] = set()
    for widget in json.loads(rendered)["widgets"]:
        for namespace, name, *pairs in _expand_rows(widget["properties"].get("metrics", [])):
            dimensions = frozenset(zip(pairs[::2], pairs[1::2], strict=True))
            read.add((namespace, name, dimensions))
    return read


def test_every_metric_an_alarm_reads_in_the_projects_namespace_is_emitted(
    emitted: set[Metric],
) -> None:
    ours = {m for m in _alarm_metrics() if m[0] == _namespace()}
    assert {name for _, name, _ in ours} >= {"IngestionRunSucceeded"}
    assert not ours - emitted, f"alarms read metrics nobody emits: {sorted(ours - emitted)}"


def test_every_metric_the_dashboard_shows_in_the_projects_namespace_is_emitted(
    emitted: set[Metric],
) -> None:
    ours = {m for m in _dashboard_metrics() if m[0] == _namespace()}
    assert {name for _, name, _ in ours} >= {"BacktestJobSucceeded", "IngestionRowsWritten"}
    assert not ours - emitted, f"widgets show metrics nobody emits: {sorted(ours - emitted)}"


def test_the_dashboard_reader_expands_cloudwatch_shorthand() -> None:
    rows: list[list[Any]] = [
        ["NS", "M", "Environment", "e", "Market", "US"],
        ["...", "KR"],
        [".", "N", ".", ".", ".", "."],
        [{"expression": "100 * m"}],
    ]
    assert _expand_rows(rows) == [
        ["NS", "M", "Environment", "e", "Market", "US"],
        ["NS", "M", "Environment", "e", "Market", "KR"],
        ["NS", "N", "Environment", "e", "Market", "KR"],
    ]
