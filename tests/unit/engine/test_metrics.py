"""Metrics on hand-computable NAV paths (bases documented in docs/engine.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domain.backtest.metrics import Periods, analytics, compute_metrics


def _metrics(
    nav: list[float], dates: pd.DatetimeIndex, bench: list[float] | None = None
) -> dict[str, float | None]:
    values = np.array(nav, dtype=float)
    return compute_metrics(
        values,
        Periods.of(dates),
        np.zeros(len(values) - 1),
        None if bench is None else np.array(bench, dtype=float),
        turnover=0.0,
        fees=0.0,
    )


def test_cagr_is_by_calendar_time_and_total_return_is_end_over_start() -> None:
    dates = pd.DatetimeIndex(["2020-01-01", "2021-01-01", "2022-01-01"])
    metrics = _metrics([100.0, 150.0, 200.0], dates)
    assert metrics["total_return"] == pytest.approx(1.0)
    assert metrics["cagr"] == pytest.approx(2.0 ** (365.25 / 731) - 1.0)


def test_drawdown_depth_and_duration_follow_the_worst_peak_to_recovery() -> None:
    dates = pd.bdate_range("2021-01-04", periods=7)
    nav = [100.0, 90.0, 95.0, 100.0, 105.0, 80.0, 110.0]
    metrics = _metrics(nav, dates)
    assert metrics["max_drawdown"] == pytest.approx(80.0 / 105.0 - 1.0)
    # Episodes: Mon→Thu (3 days) and Fri→Tue over a weekend (4 days): the longest counts.
    assert metrics["max_drawdown_duration_days"] == (dates[6] - dates[4]).days

    drawdowns = analytics(np.array(nav), Periods.of(dates))["drawdowns"]
    assert [d["depth"] for d in drawdowns] == pytest.approx([80 / 105 - 1, -0.1])
    assert drawdowns[0]["peak"] == "2021-01-08" and drawdowns[0]["trough"] == "2021-01-11"
    assert drawdowns[1]["recovery"] == "2021-01-07" and drawdowns[1]["sessions_to_trough"] == 1


def test_volatility_sharpe_var_and_moments_use_daily_returns_and_observed_sessions_per_year() -> (
    None
):
    dates = pd.bdate_range("2021-01-04", periods=260)
    returns = np.random.default_rng(5).normal(0.0005, 0.01, size=259)
    nav = 100.0 * np.cumprod(np.concatenate([[1.0], 1.0 + returns]))
    metrics = _metrics(nav.tolist(), dates)
    per_year = 259 / ((dates[-1] - dates[0]).days / 365.25)
    daily = pd.Series(returns)
    assert metrics["sessions_per_year"] == pytest.approx(per_year)
    assert metrics["volatility"] == pytest.approx(daily.std() * np.sqrt(per_year))
    assert metrics["sharpe"] == pytest.approx(daily.mean() / daily.std() * np.sqrt(per_year))
    assert metrics["var_95"] == pytest.approx(np.quantile(returns, 0.05))
    assert metrics["cvar_95"] == pytest.approx(
        returns[returns <= np.quantile(returns, 0.05)].mean()
    )
    assert metrics["skew"] == pytest.approx(daily.skew())
    assert metrics["kurtosis"] == pytest.approx(daily.kurt())


def test_monthly_and_yearly_figures_come_from_month_end_navs() -> None:
    dates = pd.DatetimeIndex(["2020-12-30", "2020-12-31", "2021-01-29", "2021-02-26", "2021-03-31"])
    nav = [100.0, 110.0, 99.0, 108.9, 108.9]
    metrics = _metrics(nav, dates)
    assert metrics["best_month"] == pytest.approx(0.10)
    assert metrics["worst_month"] == pytest.approx(-0.10)
    assert metrics["positive_months"] == pytest.approx(2 / 4)
    assert metrics["best_year"] == pytest.approx(0.10)
    assert metrics["worst_year"] == pytest.approx(108.9 / 110.0 - 1.0)

    table = analytics(np.array(nav), Periods.of(dates))["monthly_returns"]
    assert table[1]["year"] == 2021
    assert table[1]["months"][:3] == pytest.approx([-0.1, 0.1, 0.0])
    assert table[1]["months"][3] is None


def test_a_portfolio_twice_the_benchmark_has_beta_two_and_correlation_one() -> None:
    dates = pd.bdate_range("2021-01-04", periods=120)
    bench_returns = np.random.default_rng(2).normal(0.0, 0.01, size=119)
    bench = 100.0 * np.cumprod(np.concatenate([[1.0], 1.0 + bench_returns]))
    nav = 100.0 * np.cumprod(np.concatenate([[1.0], 1.0 + 2.0 * bench_returns]))
    metrics = _metrics(nav.tolist(), dates, bench.tolist())
    assert metrics["beta"] == pytest.approx(2.0)
    assert metrics["correlation"] == pytest.approx(1.0)
    assert metrics["alpha"] == pytest.approx(0.0, abs=1e-12)
    active = pd.Series(bench_returns)
    per_year = 119 / ((dates[-1] - dates[0]).days / 365.25)
    assert metrics["tracking_error"] == pytest.approx(active.std() * np.sqrt(per_year))


def test_undefined_metrics_are_none_not_nan() -> None:
    dates = pd.bdate_range("2021-01-04", periods=5)
    metrics = _metrics([100.0] * 5, dates)
    assert metrics["volatility"] == 0.0
    assert metrics["sharpe"] is None and metrics["calmar"] is None and metrics["beta"] is None
    assert all(v is None or isinstance(v, float) for v in metrics.values())
