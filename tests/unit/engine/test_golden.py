"""Golden tests on real US ETF data (2003–2020) against the plain-loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from domain.backtest import BacktestSpec, StrategySpec, run_backtest
from tests.unit.engine.data import market, real_prices
from tests.unit.engine.reference import reference_nav

ETFS = ("SPY", "EFA", "EEM", "TLT", "IEF", "GLD", "VNQ", "AGG")


def _spec(strategy: StrategySpec, universe: tuple[str, ...], **extra: object) -> BacktestSpec:
    return BacktestSpec.model_validate(
        {
            "strategy": strategy.model_dump(),
            "universe": list(universe),
            "start": "2003-01-02",
            "end": "2020-12-10",
            "initial_capital": 10_000.0,
            **extra,
        }
    )


def test_equal_weight_nav_matches_plain_loop_reference_with_late_listings() -> None:
    prices = real_prices(*ETFS)  # EEM, AGG, VNQ and GLD list after the start
    spec = _spec(StrategySpec(type="equal_weight"), ETFS)

    outcome = run_backtest(spec, market(prices))

    expected = reference_nav(prices, "2003-01-02", "2020-12-10", None, 10_000.0)
    np.testing.assert_allclose(outcome.nav.to_numpy(), expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize("fee_bps", [0.0, 10.0])
def test_fixed_60_40_nav_matches_plain_loop_reference(fee_bps: float) -> None:
    prices = real_prices("SPY", "TLT")
    weights = {"SPY": 0.6, "TLT": 0.4}
    spec = _spec(
        StrategySpec(type="fixed_weights", params={"weights": weights}),
        ("SPY", "TLT"),
        fee_bps=fee_bps,
    )

    outcome = run_backtest(spec, market(prices))

    expected = reference_nav(
        prices, "2003-01-02", "2020-12-10", weights, 10_000.0, fee_rate=fee_bps / 1e4
    )
    np.testing.assert_allclose(outcome.nav.to_numpy(), expected, rtol=1e-9, atol=0)


def test_late_listed_asset_joins_without_shortening_the_backtest() -> None:
    prices = real_prices("SPY", "TLT", "GLD")  # GLD starts 2004-11-18
    spec = _spec(StrategySpec(type="equal_weight"), ("SPY", "TLT", "GLD"))

    outcome = run_backtest(spec, market(prices))

    assert outcome.nav.index[0].year == 2003
    first_with_gld = next(r for r in outcome.trades if "GLD" in r["weights"])
    assert "2004-11-30" <= first_with_gld["decision_date"] <= "2004-12-31"
    assert first_with_gld["weights"] == pytest.approx({"SPY": 1 / 3, "TLT": 1 / 3, "GLD": 1 / 3})
    assert all(set(r["weights"]) == {"SPY", "TLT"} for r in outcome.trades[:20])
