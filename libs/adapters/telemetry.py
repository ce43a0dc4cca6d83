"""Telemetry adapters: CloudWatch embedded metric format (EMF) lines on stdout, and a recorder
for tests. The metric names and dimensions are the contract with deploy/templates/monitoring.yaml
(see docs/operations.md)."""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

from domain.model import IngestionRun, JobStatus, RunStatus


class EmfTelemetry:
    """One JSON object per line on stdout; the awslogs driver ships it, CloudWatch extracts the
    metrics. No agent and no PutMetricData permission needed."""

    def __init__(self, namespace: str, environment: str, stream: IO[str] | None = None) -> None:
        self._namespace = namespace
        self._environment = environment
        self._stream = stream

    def ingestion_run_finished(self, run: IngestionRun, market: str) -> None:
        duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
        failed = run.counts.get("assets_failed", run.counts.get("series_failed", 0))
        self._emit(
            {"Market": market},
            {
                "IngestionRunSucceeded": (1, "Count"),
                "IngestionRunDuration": (duration, "Seconds"),
                "IngestionRowsWritten": (run.counts.get("rows_written", 0), "Count"),
                "IngestionAssetsFailed": (failed, "Count"),
            },
            {"run_id": str(run.id), "status": str(run.status)},
            succeeded=run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL),
        )

    def backtest_job_finished(self, status: JobStatus, duration_s: float) -> None:
        self._emit(
            {},
            {"BacktestJobSucceeded": (1, "Count"), "BacktestJobDuration": (duration_s, "Seconds")},
            {"status": str(status)},
            succeeded=status is JobStatus.SUCCEEDED,
        )

    def _emit(
        self,
        dimensions: dict[str, str],
        metrics: dict[str, tuple[float, str]],
        properties: dict[str, Any],
        *,
        succeeded: bool,
    ) -> None:
        values = {name: value for name, (value, _unit) in metrics.items()}
        for name in values:
            if name.endswith("Succeeded"):
                values[name] = 1 if succeeded else 0
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [["Environment", *dimensions]],
                        "Metrics": [{"Name": n, "Unit": u} for n, (_v, u) in metrics.items()],
                    }
                ],
            },
            "Environment": self._environment,
            **dimensions,
            **properties,
            **values,
        }
        try:
            stream = self._stream or sys.stdout
            stream.write(json.dumps(line, separators=(",", ":")) + "\n")
            stream.flush()
        except (OSError, ValueError):  # telemetry must never fail the work it measures
            pass


class RecordingTelemetry:
    """Keeps what was reported, for tests."""

    def __init__(self) -> None:
        self.runs: list[tuple[IngestionRun, str]] = []
        self.jobs: list[tuple[JobStatus, float]] = []

    def ingestion_run_finished(self, run: IngestionRun, market: str) -> None:
        self.runs.append((run, market))

    def backtest_job_finished(self, status: JobStatus, duration_s: float) -> None:
        self.jobs.append((status, duration_s))
