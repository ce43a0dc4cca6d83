"""Dependencies that refused this task's credentials, remembered for the rest of the task.

A rotated database password is only read when a task starts, so once a refusal is seen (by a
readiness probe or by any request) readiness stays 503 and the ALB has ECS replace the task.
Remembering it matters because a connection opened before the rotation may still answer: a
readiness that flapped back to 200 would never reach the ALB's unhealthy threshold.
"""

from __future__ import annotations

from typing import Any

from domain.errors import RestartRequired

CheckResult = dict[str, str | None]


def refused_credentials(app: Any) -> dict[str, CheckResult]:
    """The refusals recorded on this app, by readiness check name."""
    state = app.state
    if not hasattr(state, "refused_credentials"):
        state.refused_credentials = {}
    refused: dict[str, CheckResult] = state.refused_credentials
    return refused


def record_refusal(app: Any, check: str, exc: RestartRequired) -> CheckResult:
    result: CheckResult = {
        "status": "unavailable",
        "detail": f"{type(exc).__name__}: this task must be replaced to read current credentials",
    }
    return refused_credentials(app).setdefault(check, result)
