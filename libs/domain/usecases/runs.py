"""Ingestion runs: recording what an ingest command did (the "honest status" of every run),
listing them, and the maintenance that closes what a worker left open.

Business rules:

- A run's id comes from its queue message, so a redelivered message resumes its own run.
- A run lists at most ``_MAX_LISTED`` failures and issues; its counts stay exact beyond it.
- A run still ``running`` whose heartbeat is older than the abandon timeout lost its worker:
  maintenance closes it.
- A fanned-out parent is recomputed from its children and closed when all have finished:
  after each child, and again by maintenance (two children finishing at once could each miss
  the other's commit).
- Runs are listed newest first, a page at a time, optionally the children of one parent.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from domain.messages import UpdateMacro, UpdatePrices
from domain.model import IngestionRun, Page, RunStatus
from domain.ports import Clock, IngestionRunRepository, Telemetry

log = logging.getLogger(__name__)

# A run lists at most this many failures and issues; the counts stay exact beyond it.
_MAX_LISTED = 500


class RunRecorder:
    """Keeps one run row up to date while a command is handled.

    The run id comes from the queue message, so a redelivered message resumes its own run
    instead of leaving a second one behind.
    """

    def __init__(self, runs: IngestionRunRepository, clock: Clock, run: IngestionRun) -> None:
        self._runs = runs
        self._clock = clock
        self.run = run
        self.failures: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self._restated: list[dict[str, Any]] = []

    @classmethod
    async def start(
        cls,
        runs: IngestionRunRepository,
        clock: Clock,
        *,
        run_id: uuid.UUID,
        command: UpdatePrices | UpdateMacro,
        source: str | None = None,
    ) -> RunRecorder:
        """Open (or, for a redelivered message, reopen) the run of ``command`` served by the
        provider named ``source``."""
        now = clock.now()
        run = IngestionRun(
            id=run_id,
            command=command.model_dump(mode="json", exclude_none=True),
            command_type=command.type,
            trigger=command.effective_trigger(),
            status=RunStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            parent_id=command.parent_run_id,
            dry_run=command.dry_run,
            source=source,
        )
        existing = await runs.get(run_id)
        if existing is None:
            await runs.add(run)
        else:
            await runs.update(run)
        return cls(runs, clock, run)

    def fail(self, subject: str, reason: str) -> None:
        if len(self.failures) < _MAX_LISTED:
            self.failures.append({"subject": subject, "reason": reason})

    def issue(self, issue: dict[str, Any]) -> None:
        if len(self.issues) < _MAX_LISTED:
            self.issues.append(issue)

    def note_restated(self, subject: str, since: date) -> None:
        self.issue(
            {
                "ticker": subject,
                "kind": "restated",
                "detail": f"adjusted history changed on or before {since.isoformat()}; full history replaced",
            }
        )

    def note_source_changed(
        self, subject: str, stored: str | None, provider: str, *, subject_key: str = "ticker"
    ) -> None:
        """A stored history from another provider (or an unrecorded one) was replaced."""
        self.issue(
            {
                subject_key: subject,
                "kind": "source_changed",
                "detail": (
                    f"stored data came from {stored or 'an unrecorded provider'}; "
                    f"full history replaced from {provider}"
                ),
            }
        )

    async def beat(self, counts: dict[str, int]) -> None:
        self.run = replace(
            self.run,
            counts=counts,
            heartbeat_at=self._clock.now(),
            failures=list(self.failures),
            issues=list(self.issues),
        )
        await self._runs.update(self.run)

    async def checkpoint(self, counts: dict[str, int]) -> IngestionRun:
        """Persist progress and leave the run open (a parent waiting for its children)."""
        await self.beat(counts)
        return self.run

    async def finish(self, counts: dict[str, int], status: RunStatus) -> IngestionRun:
        now = self._clock.now()
        self.run = replace(
            self.run,
            counts=counts,
            status=status,
            finished_at=now,
            heartbeat_at=now,
            failures=list(self.failures),
            issues=list(self.issues),
        )
        await self._runs.update(self.run)
        return self.run


def report_finished(telemetry: Telemetry | None, run: IngestionRun) -> None:
    """Report a finished top-level run (children are reported through their parent)."""
    if telemetry is None or run.parent_id is not None or run.finished_at is None:
        return
    telemetry.ingestion_run_finished(run, str(run.command.get("market", "MACRO")))


async def aggregate_parent(
    runs: IngestionRunRepository,
    parent_id: uuid.UUID,
    clock: Clock,
    telemetry: Telemetry | None = None,
) -> IngestionRun | None:
    """Recompute a fanned-out run from its children; close it when every child has finished.

    Idempotent, so it may run after each child and again from a sweeper (two children finishing
    at once could each miss the other's commit).
    """
    parent = await runs.get(parent_id)
    if parent is None or parent.status is not RunStatus.RUNNING:
        return parent
    children = await runs.children(parent_id)
    expected = parent.counts.get("children", len(children))
    totals: dict[str, int] = {"children": expected}
    failures: list[dict[str, Any]] = []
    issues: list[dict[str, Any]] = []
    for child in children:
        for key, value in child.counts.items():
            totals[key] = totals.get(key, 0) + value
        failures.extend(child.failures)
        issues.extend(child.issues)
    totals["children"] = expected
    totals["assets"] = parent.counts.get("assets", 0)
    finished = [c for c in children if c.finished_at is not None]
    status = RunStatus.RUNNING
    finished_at = None
    if len(finished) >= expected:
        finished_at = clock.now()
        if all(c.status is RunStatus.SUCCEEDED for c in children):
            status = RunStatus.SUCCEEDED
        elif any(c.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL) for c in children):
            status = RunStatus.PARTIAL
        else:
            status = RunStatus.FAILED
    updated = replace(
        parent,
        counts=totals,
        failures=failures[:_MAX_LISTED],
        issues=issues[:_MAX_LISTED],
        status=status,
        finished_at=finished_at,
        heartbeat_at=clock.now(),
    )
    await runs.update(updated)
    report_finished(telemetry, updated)
    return updated


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRunsRequest:
    limit: int = 50
    cursor: str | None = None
    parent_id: uuid.UUID | None = None  # only this run's children


class ListRuns:
    """Ingestion runs, newest first, a page at a time."""

    def __init__(self, *, runs: IngestionRunRepository) -> None:
        self._runs = runs

    async def __call__(self, request: ListRunsRequest) -> Page[IngestionRun]:
        return await self._runs.list(request.limit, request.cursor, request.parent_id)


class MaintainRuns:
    """Close runs whose worker went away (no heartbeat for ``abandon_after``), and close
    fanned-out parents whose children have all finished. Idempotent: run it periodically."""

    # Parents among the newest runs are re-aggregated; older ones were closed long ago.
    RECENT_RUNS = 100

    def __init__(
        self,
        *,
        runs: IngestionRunRepository,
        clock: Clock,
        abandon_after: timedelta,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._runs = runs
        self._clock = clock
        self._abandon_after = abandon_after
        self._telemetry = telemetry

    async def __call__(self) -> int:
        """The number of abandoned runs closed."""
        now = self._clock.now()
        abandoned = await self._runs.abandon_stale(now - self._abandon_after, now)
        if abandoned:
            log.warning("closed abandoned ingestion runs", extra={"count": abandoned})
        page = await self._runs.list(limit=self.RECENT_RUNS, cursor=None)
        for run in page.items:
            if run.status is RunStatus.RUNNING and "children" in run.counts:
                await aggregate_parent(self._runs, run.id, self._clock, self._telemetry)
        return abandoned
