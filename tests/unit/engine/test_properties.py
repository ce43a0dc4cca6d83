"""Properties over random panels (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.backtest import BacktestSpec, run_backtest
from tests.unit.engine.data import market

LONG_ONLY = [
    ("equal_weight", {}),
    ("momentum", {"top_n": 2, "lookback_months": 3}),
    ("dual_momentum", {"lookback_months": 3, "top_n": 2}),
    ("dual_momentum", {"variant": "score", "top_n": 2}),
    ("inverse_volatility", {"lookback_months": 2}),
    ("risk_parity", {"lookback_months": 2}),
    ("min_variance", {"lookback_months": 2, "max_weight": 0.6}),
    ("max_sharpe", {"lookback_months": 2}),
]


@st.composite
def panels(draw: st.DrawFn) -> pd.DataFrame:
    n_assets = draw(st.integers(1, 4))
    n_days = draw(st.integers(330, 420))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.002, 0.04, size=n_assets)
    returns = rng.normal(0.0, 1.0, size=(n_days, n_assets)) * vol
    prices = 50.0 * np.exp(np.cumsum(returns, axis=0))
    # Holes (holidays) and late listings: NaN, never zero.
    prices[rng.random(prices.shape) < 0.03] = np.nan
    late = rng.integers(0, n_days // 3, size=n_assets)
    late[0] = 0
    for j, first in enumerate(late):
        prices[:first, j] = np.nan
    prices[0, 0] = 50.0
    labels = [f"X{j}" for j in range(n_assets)]
    return pd.DataFrame(prices, index=pd.bdate_range("2015-01-01", periods=n_days), columns=labels)


def _spec(
    prices: pd.DataFrame, strategy: str, params: dict[str, object], fee: float
) -> BacktestSpec:
    return BacktestSpec.model_validate(
        {
            "strategy": {"type": strategy, "params": params},
            "universe": list(prices.columns),
            "start": prices.index[70].date(),
            "end": prices.index[-1].date(),
            "fee_bps": fee,
        }
    )


@pytest.mark.parametrize(("strategy", "params"), LONG_ONLY)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prices=panels(), fee=st.sampled_from([0.0, 5.0, 50.0]))
def test_long_only_weights_sum_to_at_most_one_and_nav_stays_positive(
    strategy: str, params: dict[str, object], prices: pd.DataFrame, fee: float
) -> None:
    outcome = run_backtest(_spec(prices, strategy, params, fee), market(prices))
    for record in outcome.trades:
        weights = np.array(list(record["weights"].values()))
        assert (weights >= 0).all()
        assert weights.sum() <= 1.0 + 1e-9
        assert record["cash"] >= 0
    assert np.isfinite(outcome.nav.to_numpy()).all()
    assert (outcome.nav > 0).all()


@settings(max_examples=25, deadline=None)
@given(prices=panels(), rebalance=st.sampled_from(["M", "Q", "A"]))
def test_zero_fee_rebalancing_of_one_asset_equals_buy_and_hold(
    prices: pd.DataFrame, rebalance: str
) -> None:
    one = prices[["X0"]]
    spec = _spec(one, "equal_weight", {}, 0.0).model_copy(update={"rebalance": rebalance})
    nav = run_backtest(spec, market(one)).nav
    filled = one["X0"].ffill().loc[nav.index]
    bought = nav.index[1]  # next_close after the first session's decision
    expected = nav.iloc[0] * filled / filled.loc[bought]
    np.testing.assert_allclose(nav.loc[bought:], expected.loc[bought:], rtol=1e-12)
