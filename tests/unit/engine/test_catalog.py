"""The catalog served by GET /v1/strategies and the checks made before queueing."""

from __future__ import annotations

from typing import Any

import pytest

from domain.backtest import (
    STRATEGY_CATALOG,
    BacktestSpec,
    required_history_days,
    strategy_catalog,
    validate_strategy_params,
)

TYPES = {
    "equal_weight",
    "fixed_weights",
    "momentum",
    "dual_momentum",
    "inverse_volatility",
    "risk_parity",
    "min_variance",
    "max_sharpe",
}


def _spec(
    strategy: str, params: dict[str, Any], universe: list[str | int] | None = None
) -> BacktestSpec:
    return BacktestSpec.model_validate(
        {
            "strategy": {"type": strategy, "params": params},
            "universe": universe or ["SPY", "EFA", "AGG"],
            "start": "2010-01-01",
            "end": "2020-01-01",
        }
    )


def test_catalog_lists_every_strategy_with_a_description_and_a_json_schema() -> None:
    assert {entry["type"] for entry in strategy_catalog()} == TYPES
    assert strategy_catalog() == STRATEGY_CATALOG
    for entry in STRATEGY_CATALOG:
        assert entry["description"]
        assert entry["params_schema"]["type"] == "object"
    momentum = next(e for e in STRATEGY_CATALOG if e["type"] == "momentum")
    assert momentum["params_schema"]["properties"]["lookback_months"]["default"] == 12


def test_valid_specs_have_no_errors() -> None:
    assert validate_strategy_params(_spec("dual_momentum", {"safe_asset": "AGG"})) == []
    assert (
        validate_strategy_params(_spec("fixed_weights", {"weights": {"SPY": 0.6, "AGG": 0.4}}))
        == []
    )


@pytest.mark.parametrize(
    ("strategy", "params", "field"),
    [
        ("no_such_strategy", {}, "strategy.type"),
        ("momentum", {"top_n": 0}, "strategy.params.top_n"),
        ("momentum", {"lookback": 12}, "strategy.params.lookback"),
        ("dual_momentum", {"safe_asset": "TLT"}, "strategy.params.safe_asset"),
        ("fixed_weights", {"weights": {"QQQ": 0.5}}, "strategy.params.weights.QQQ"),
        ("fixed_weights", {"weights": {"SPY": 0.8, "AGG": 0.4}}, "strategy.params.weights"),
        ("min_variance", {"max_weight": 0}, "strategy.params.max_weight"),
    ],
)
def test_invalid_params_are_reported_by_field(
    strategy: str, params: dict[str, Any], field: str
) -> None:
    errors = validate_strategy_params(_spec(strategy, params))
    assert field in {e["field"] for e in errors}
    assert all(e["message"] for e in errors)


def test_required_history_covers_the_lookback_in_calendar_days() -> None:
    assert required_history_days(_spec("equal_weight", {})) == 0
    twelve = required_history_days(_spec("momentum", {"lookback_months": 12}))
    assert 366 <= twelve <= 400
    assert (
        required_history_days(_spec("momentum", {"lookback_months": 12, "skip_months": 1})) > twelve
    )
    assert (
        required_history_days(_spec("dual_momentum", {"variant": "score", "lookback_months": 3}))
        >= 366
    )
