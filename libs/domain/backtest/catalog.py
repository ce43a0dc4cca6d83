"""What the gateway serves and checks before queueing: the catalog and parameter validation."""

from __future__ import annotations

from typing import Any

from domain.backtest.engine import strategy_definition
from domain.backtest.errors import UnrunnableBacktest
from domain.backtest.spec import BacktestSpec
from domain.backtest.strategies import STRATEGIES


def strategy_catalog() -> list[dict[str, Any]]:
    """One entry per strategy: ``type``, ``description`` and the JSON schema of its params."""
    return [
        {
            "type": d.name,
            "description": d.description,
            "params_schema": d.params.model_json_schema(),
        }
        for d in STRATEGIES.values()
    ]


STRATEGY_CATALOG: list[dict[str, Any]] = strategy_catalog()


def validate_strategy_params(spec: BacktestSpec) -> list[dict[str, str]]:
    """Errors (``field`` + ``message``) that make the spec unrunnable; empty when it is fine.

    Beyond each schema: fixed weights and the safe asset must name universe items, and fixed
    weights must not sum above 1 (no leverage)."""
    try:
        _, params = strategy_definition(spec)
    except UnrunnableBacktest as exc:
        return exc.errors
    universe = {str(item) for item in spec.universe}
    errors: list[dict[str, str]] = []
    weights: dict[str, float] = getattr(params, "weights", None) or {}
    for label, weight in weights.items():
        if label not in universe:
            errors.append(
                {"field": f"strategy.params.weights.{label}", "message": "not in the universe"}
            )
        if weight < 0:
            errors.append(
                {"field": f"strategy.params.weights.{label}", "message": "must be >= 0 (long only)"}
            )
    if weights and sum(weights.values()) > 1.0 + 1e-9:
        errors.append({"field": "strategy.params.weights", "message": "weights sum above 1"})
    safe = getattr(params, "safe_asset", None)
    if safe is not None and safe not in universe:
        errors.append(
            {"field": "strategy.params.safe_asset", "message": "must be one of the universe items"}
        )
    return errors
