"""Conventions users rely on: no look-ahead, missing prices, ties, safe asset, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from domain.backtest import (
    BacktestSpec,
    MarketData,
    UnrunnableBacktest,
    run_backtest,
)
from domain.errors import InvalidRequest, PermanentFailure
from domain.model import Currency
from tests.unit.engine.data import dexkous, dtb3, market, real_prices, synthetic


def spec_of(strategy: str, universe: list[str], start: str, end: str, **extra: Any) -> BacktestSpec:
    params = extra.pop("params", {})
    return BacktestSpec.model_validate(
        {
            "strategy": {"type": strategy, "params": params},
            "universe": universe,
            "start": start,
            "end": end,
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("momentum", {"top_n": 2, "lookback_months": 6}),
        ("dual_momentum", {"safe_asset": "E"}),
        ("dual_momentum", {"variant": "score", "top_n": 2}),
        ("inverse_volatility", {}),
        ("min_variance", {}),
        ("risk_parity", {}),
        ("max_sharpe", {}),
    ],
)
def test_prices_after_a_decision_never_change_that_decision(
    strategy: str, params: dict[str, Any]
) -> None:
    prices = synthetic(900, ["A", "B", "C", "D", "E"], seed=3)
    spec = spec_of(strategy, list(prices.columns), "2011-01-03", "2013-06-28", params=params)
    base = run_backtest(spec, market(prices))
    decision = base.trades[10]["decision_date"]
    shocked = prices.copy()
    later = shocked.index > pd.Timestamp(decision)
    shocked.loc[later] *= np.random.default_rng(1).uniform(0.3, 3.0, size=shocked.loc[later].shape)

    perturbed = run_backtest(spec, market(shocked))

    assert [r["weights"] for r in perturbed.trades[:11]] == [r["weights"] for r in base.trades[:11]]
    # The shock does reach the later decisions (the test would prove nothing otherwise).
    later_weights = zip(perturbed.trades[11:], base.trades[11:], strict=True)
    assert any(p["weights"] != b["weights"] for p, b in later_weights)


def test_next_close_executes_one_session_after_the_decision_and_same_close_at_it() -> None:
    prices = synthetic(300, ["A", "B"])
    dates = list(prices.index)
    for execution, lag in (("next_close", 1), ("same_close", 0)):
        spec = spec_of("equal_weight", ["A", "B"], "2010-01-04", "2011-01-31", execution=execution)
        records = run_backtest(spec, market(prices)).trades
        for record in records:
            decided = dates.index(pd.Timestamp(record["decision_date"]))
            assert dates[decided + lag] == pd.Timestamp(record["date"])
        month_ends = [r["decision_date"] for r in records[1:]]
        assert all(
            pd.Timestamp(d).month != dates[dates.index(pd.Timestamp(d)) + 1].month
            for d in month_ends
        )


def test_mixed_us_kr_universe_carries_holiday_prices_instead_of_crashing() -> None:
    tickers = ["SPY", "TLT", "GLD", "069500", "005930"]
    prices = real_prices(*tickers)
    currencies = {t: Currency.USD for t in tickers[:3]} | {t: Currency.KRW for t in tickers[3:]}
    data = MarketData(prices=prices, currencies=currencies, fx=dexkous(), risk_free=dtb3())
    spec = spec_of("equal_weight", tickers, "2005-01-03", "2020-12-10", base_currency="USD")

    outcome = run_backtest(spec, data)

    daily = outcome.nav.pct_change().dropna()
    assert daily.min() > -0.15  # a holiday of one market is no fall of its assets
    assert outcome.metrics["volatility"] is not None and outcome.metrics["volatility"] < 0.5
    assert outcome.nav.notna().all() and (outcome.nav > 0).all()


def test_krw_assets_are_converted_to_the_usd_base_with_the_fx_series() -> None:
    prices = real_prices("069500")
    fx = dexkous()
    data = MarketData(prices=prices, currencies={"069500": Currency.KRW}, fx=fx)
    usd = run_backtest(
        spec_of("equal_weight", ["069500"], "2010-01-04", "2015-12-30", base_currency="USD"), data
    )
    krw = run_backtest(spec_of("equal_weight", ["069500"], "2010-01-04", "2015-12-30"), data)

    fx_at = fx.dropna().reindex(usd.nav.index, method="ffill")
    ratio = (usd.nav / krw.nav) * (fx_at / fx_at.iloc[1])
    # Holding one asset: the USD NAV is the KRW NAV divided by the FX move since the purchase.
    np.testing.assert_allclose(ratio.iloc[1:], 1.0, rtol=1e-12)


def test_mixed_currencies_without_fx_are_rejected_with_a_reason() -> None:
    prices = real_prices("SPY", "069500")
    data = MarketData(prices=prices, currencies={"SPY": Currency.USD, "069500": Currency.KRW})
    with pytest.raises(UnrunnableBacktest, match="FX"):
        run_backtest(spec_of("equal_weight", ["SPY", "069500"], "2010-01-04", "2012-01-31"), data)


def test_ties_are_broken_by_label_whatever_the_column_order() -> None:
    prices = synthetic(600, ["B", "A", "C"])
    prices["A"] = prices["B"]  # identical history: a tie at every decision
    spec = spec_of("momentum", ["B", "A", "C"], "2011-01-03", "2012-05-31", params={"top_n": 1})
    reordered = spec.model_copy(update={"universe": ["C", "A", "B"]})

    one = run_backtest(spec, market(prices)).trades
    other = run_backtest(reordered, market(prices[["C", "A", "B"]])).trades

    assert [r["weights"] for r in one] == [r["weights"] for r in other]
    assert all("B" not in r["weights"] for r in one)


def _falling(labels: list[str], safe: str | None = None) -> pd.DataFrame:
    index = pd.bdate_range("2010-01-01", periods=700)
    data = {label: 100.0 * 0.999 ** np.arange(700) for label in labels}
    if safe is not None:
        data[safe] = 100.0 * 1.0001 ** np.arange(700)
    return pd.DataFrame(data, index=index)


def test_when_no_asset_beats_cash_dual_momentum_holds_the_safe_asset() -> None:
    prices = _falling(["A", "B"], safe="BND")
    spec = spec_of(
        "dual_momentum",
        ["A", "B", "BND"],
        "2011-03-01",
        "2012-06-29",
        params={"safe_asset": "BND", "top_n": 1},
    )
    records = run_backtest(spec, market(prices)).trades
    assert all(r["weights"] == {"BND": 1.0} for r in records)


@pytest.mark.parametrize("variant", ["antonacci", "score"])
def test_when_no_asset_qualifies_and_there_is_no_safe_asset_the_portfolio_is_all_cash(
    variant: str,
) -> None:
    prices = _falling(["A", "B"])
    spec = spec_of(
        "dual_momentum", ["A", "B"], "2011-03-01", "2012-06-29", params={"variant": variant}
    )
    outcome = run_backtest(spec, market(prices))
    assert all(r["weights"] == {} and r["cash"] == 1.0 for r in outcome.trades)
    assert outcome.nav.iloc[-1] == pytest.approx(outcome.nav.iloc[0])


def test_cash_earns_the_risk_free_rate_when_given() -> None:
    prices = _falling(["A"])
    rate = pd.Series(3.6, index=prices.index)  # 3.6 % a year, act/360 → 0.01 % a day
    spec = spec_of("dual_momentum", ["A"], "2011-03-01", "2012-06-29")
    outcome = run_backtest(spec, MarketData(prices=prices, risk_free=rate))
    days = (outcome.nav.index[-1] - outcome.nav.index[0]).days
    assert outcome.nav.iloc[-1] / outcome.nav.iloc[0] > 1 + 0.036 * days / 360 * 0.99


def test_inputs_are_not_mutated() -> None:
    prices = synthetic(400, ["A", "B"])
    prices.iloc[5, 0] = np.nan
    before = prices.copy()
    run_backtest(spec_of("equal_weight", ["A", "B"], "2010-02-01", "2011-06-30"), market(prices))
    pd.testing.assert_frame_equal(prices, before)


@pytest.mark.parametrize(
    ("universe", "start", "end", "reason"),
    [
        (["A", "ZZZ"], "2010-02-01", "2011-01-31", "ZZZ"),
        (["A"], "2030-01-01", "2031-01-01", "no prices"),
    ],
)
def test_unrunnable_requests_fail_with_a_clear_reason(
    universe: list[str], start: str, end: str, reason: str
) -> None:
    prices = synthetic(300, ["A", "B"])
    with pytest.raises(UnrunnableBacktest, match=reason) as raised:
        run_backtest(spec_of("equal_weight", universe, start, end), market(prices))
    assert isinstance(raised.value, InvalidRequest) and isinstance(raised.value, PermanentFailure)
    assert raised.value.errors


def test_a_window_too_short_for_the_lookback_is_rejected() -> None:
    prices = synthetic(200, ["A", "B"])
    spec = spec_of(
        "momentum", ["A", "B"], "2010-01-04", "2010-09-30", params={"lookback_months": 12}
    )
    with pytest.raises(UnrunnableBacktest, match="lookback"):
        run_backtest(spec, market(prices))


def test_absolute_band_rebalances_between_calendar_dates_when_a_weight_drifts() -> None:
    index = pd.bdate_range("2010-01-01", periods=260)
    prices = pd.DataFrame(
        {"UP": 100.0 * 1.004 ** np.arange(260), "FLAT": np.full(260, 100.0)}, index=index
    )
    spec = spec_of(
        "fixed_weights",
        ["UP", "FLAT"],
        "2010-01-01",
        "2010-12-31",
        rebalance="A",
        params={"weights": {"UP": 0.5, "FLAT": 0.5}},
        rebalance_band={"absolute": 0.05},
    )
    records = run_backtest(spec, market(prices)).trades
    bands = [r for r in records if r["trigger"] == "band"]
    assert len(bands) >= 3
    assert all(abs(r["drifted"]["UP"] - 0.5) > 0.05 for r in bands)


def test_minimum_fee_is_charged_per_trade() -> None:
    prices = synthetic(300, ["A", "B"])
    spec = spec_of("equal_weight", ["A", "B"], "2010-01-04", "2010-12-31", min_fee=5.0)
    outcome = run_backtest(spec, market(prices))
    first = outcome.trades[0]
    assert first["fee"] == pytest.approx(10.0)  # two purchases at the minimum
    assert all(r["fee"] >= 5.0 for r in outcome.trades)


def test_universe_of_asset_ids_uses_the_loaders_column_labels_in_order() -> None:
    prices = synthetic(300, ["SPY", "TLT"])
    spec = BacktestSpec.model_validate(
        {
            "strategy": {"type": "fixed_weights", "params": {"weights": {"SPY": 1.0}}},
            "universe": [11, 12],
            "start": "2010-01-04",
            "end": "2010-12-31",
        }
    )
    outcome = run_backtest(spec, market(prices))
    assert outcome.labels == ("SPY", "TLT")
    assert outcome.trades[0]["weights"] == {"SPY": 1.0}
