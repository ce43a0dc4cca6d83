"""Performance metrics and analytics; the basis of each is in docs/engine.md ("Metrics").

All inputs are numpy arrays over the sessions of the backtest window; undefined values are
returned as None (never NaN, never a string).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

DAYS_PER_YEAR = 365.25
VAR_LEVEL = 0.95


@dataclass(frozen=True, slots=True, kw_only=True)
class Periods:
    """The period basis of the metrics: the window's session dates, the positions of each
    month's and year's last session, and the annualisation basis (calendar years spanned,
    sessions per year observed)."""

    dates: pd.DatetimeIndex
    years: float
    sessions_per_year: float
    month_ends: np.ndarray
    year_ends: np.ndarray

    month_code: np.ndarray  # year × 12 + month − 1 of each session
    days: np.ndarray  # calendar day number of each session

    def iso(self, session: int) -> str:
        if self.dates.tz is not None:  # the local date
            return str(self.dates[session].date().isoformat())
        return str(np.datetime_as_string(self.dates.values[session].astype("datetime64[D]")))

    def isos(self, sessions: np.ndarray) -> list[str]:
        """``iso`` of each session (any index; -1 is the last session)."""
        if self.dates.tz is not None:
            return [self.iso(int(t)) for t in sessions]
        day = self.dates.values[sessions].astype("datetime64[D]")
        result: list[str] = np.datetime_as_string(day).tolist()
        return result

    def month_end_dates(self) -> list[str]:
        """ISO dates of ``month_ends`` (the rolling windows' dates are suffixes of it)."""
        day = self.dates.values[self.month_ends].astype("datetime64[D]")
        result: list[str] = np.datetime_as_string(day).tolist()
        return result

    @classmethod
    def of(
        cls,
        dates: pd.DatetimeIndex,
        days: np.ndarray | None = None,
        months: np.ndarray | None = None,
    ) -> Periods:
        """``days`` (since 1970-01-01) and ``months`` (since 1970-01) of each session of
        ``dates.values``, if the caller has them."""
        if days is None or months is None:
            day = dates.values.astype("datetime64[D]")
            days = day.astype(np.int64)
            months = day.astype("datetime64[M]").astype(np.int64)
        years = float(days[-1] - days[0]) / DAYS_PER_YEAR
        month_code = months
        year = month_code // 12  # months since 1970-01 → years since 1970 (floor, also before)
        last = len(dates) - 1
        month_ends = np.append(np.flatnonzero(month_code[1:] != month_code[:-1]), last)
        year_ends = np.append(np.flatnonzero(year[1:] != year[:-1]), last)
        per_year = (len(dates) - 1) / years if years > 0 else float("nan")
        return cls(
            dates=dates,
            years=years,
            sessions_per_year=per_year,
            month_ends=month_ends,
            year_ends=year_ends,
            month_code=month_code + 1970 * 12,
            days=days,
        )


def _num(value: float | np.floating[Any]) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def period_returns(nav: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Returns between consecutive period ends; the first period runs from the first NAV."""
    closes = nav[ends]
    bases = np.concatenate([[nav[0]], closes[:-1]])
    result: np.ndarray = closes / bases - 1.0
    return result


def skew_and_kurtosis(x: np.ndarray) -> tuple[float, float]:
    """Bias-corrected sample skewness and excess kurtosis: ``scipy.stats.skew(x, bias=False)``
    and ``scipy.stats.kurtosis(x, bias=False)`` (pandas' ``skew`` and ``kurt``); NaN below four
    returns or without variance.

    A fast path: scipy's two calls cost about 1.5 ms on 7,560 daily returns, this 0.05 ms
    (timeit on the shared 2-core host), while a whole equal-weight run on 20 assets × 30 years
    takes 2.9 ms (``bench/results/engine.json``), so scipy would add half of it.
    ``tests/unit/engine/test_fast_paths.py`` holds it to scipy."""
    n = len(x)
    if n < 4:
        return float("nan"), float("nan")
    d = x - x.mean()
    d2 = d * d  # products, not d**3 / d**4: numpy's float pow is ten times slower
    m2 = float(d2.mean())
    if m2 == 0:
        return float("nan"), float("nan")
    m3 = float((d2 * d).mean())
    m4 = float((d2 * d2).mean())
    skew = np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2**1.5
    kurt = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * m4 / m2**2 - 3 * (n - 1))
    return float(skew), float(kurt)


@dataclass(frozen=True, slots=True)
class Episodes:
    """Underwater episodes: ``peaks`` (last session at the high), ``recoveries`` (first session
    back at the high, or -1 while still under water) and ``depths`` (≤ 0)."""

    peaks: np.ndarray
    recoveries: np.ndarray
    depths: np.ndarray
    path: np.ndarray  # drawdown at each session

    def trough(self, k: int) -> int:
        stop = self.recoveries[k] if self.recoveries[k] >= 0 else len(self.path)
        return int(self.peaks[k] + 1 + np.argmin(self.path[self.peaks[k] + 1 : stop]))


def drawdown_episodes(nav: np.ndarray) -> Episodes:
    """Every underwater episode, vectorised (no loop over sessions or episodes)."""
    peak_value = np.maximum.accumulate(nav)
    path = nav / peak_value - 1.0
    under = path < 0
    edges = np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    depths = np.minimum.reduceat(path, starts) if len(starts) else np.zeros(0)
    recoveries = np.where(stops < len(nav), stops, -1)
    return Episodes(peaks=starts - 1, recoveries=recoveries, depths=depths, path=path)


def _episode_days(ep: Episodes, days: np.ndarray) -> np.ndarray:
    """Calendar days from peak to recovery (to the last session while unrecovered)."""
    ends = np.where(ep.recoveries >= 0, ep.recoveries, len(days) - 1)
    result: np.ndarray = days[ends] - days[ep.peaks]
    return result


def compute_metrics(
    nav: np.ndarray,
    periods: Periods,
    cash_returns: np.ndarray,
    benchmark: np.ndarray | None,
    *,
    turnover: float,
    fees: float,
    episodes: Episodes | None = None,
) -> dict[str, float | None]:
    """Every metric of docs/engine.md; ``episodes``: ``drawdown_episodes(nav)`` if the caller
    has it already."""
    daily = nav[1:] / nav[:-1] - 1.0
    excess = daily - cash_returns
    ppy = periods.sessions_per_year
    total = nav[-1] / nav[0] - 1.0
    cagr = (nav[-1] / nav[0]) ** (1.0 / periods.years) - 1.0 if periods.years > 0 else float("nan")
    vol = daily.std(ddof=1) * np.sqrt(ppy) if len(daily) > 1 else float("nan")
    downside = np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)) * np.sqrt(ppy)
    episodes = drawdown_episodes(nav) if episodes is None else episodes
    max_dd = float(episodes.path.min())
    episode_days = _episode_days(episodes, periods.days)
    dd_days = float(episode_days.max()) if len(episode_days) else 0.0
    var = float(np.quantile(daily, 1.0 - VAR_LEVEL)) if len(daily) else float("nan")
    tail = daily[daily <= var]
    skew, kurt = skew_and_kurtosis(daily)
    monthly = period_returns(nav, periods.month_ends)
    yearly = period_returns(nav, periods.year_ends)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = excess.mean() / excess.std(ddof=1) * np.sqrt(ppy)
        sortino = excess.mean() * ppy / downside
        calmar = cagr / abs(max_dd) if max_dd < 0 else float("nan")
    metrics: dict[str, float | None] = {
        "total_return": _num(total),
        "cagr": _num(cagr),
        "volatility": _num(vol),
        "sharpe": _num(sharpe),
        "sortino": _num(sortino),
        "calmar": _num(calmar),
        "max_drawdown": _num(max_dd),
        "max_drawdown_duration_days": dd_days,
        "var_95": _num(var),
        "cvar_95": _num(tail.mean()) if len(tail) else None,
        "skew": _num(skew),
        "kurtosis": _num(kurt),
        "best_month": _num(monthly.max()),
        "worst_month": _num(monthly.min()),
        "best_year": _num(yearly.max()),
        "worst_year": _num(yearly.min()),
        "positive_months": _num((monthly > 0).mean()),
        "sessions_per_year": _num(ppy),
        "annual_turnover": _num(turnover / periods.years) if periods.years > 0 else None,
        "total_fees": float(fees),
    }
    metrics.update(_relative(daily, excess, cash_returns, benchmark, ppy))
    return metrics


def _relative(
    daily: np.ndarray,
    excess: np.ndarray,
    cash_returns: np.ndarray,
    benchmark: np.ndarray | None,
    ppy: float,
) -> dict[str, float | None]:
    """Beta, alpha, correlation, tracking error and information ratio on the sessions where
    both the portfolio and the benchmark have a return."""
    keys = ("beta", "alpha", "correlation", "tracking_error", "information_ratio")
    if benchmark is None:
        return dict.fromkeys(keys)
    bench = benchmark[1:] / benchmark[:-1] - 1.0
    ok = np.isfinite(bench)
    if ok.sum() < 3:
        return dict.fromkeys(keys)
    p, b = excess[ok], bench[ok] - cash_returns[ok]
    p_mean, b_mean = p.mean(), b.mean()
    dp, db = p - p_mean, b - b_mean
    # Sample (co)variances, ddof 1 (np.cov's, without its stacking and checks).
    cov_pb, var_p, var_b = (float(x @ y) / (len(p) - 1) for x, y in ((dp, db), (dp, dp), (db, db)))
    active = daily[ok] - bench[ok]
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.float64(cov_pb) / var_b
        alpha = (p_mean - beta * b_mean) * ppy
        corr = np.float64(cov_pb) / np.sqrt(var_p * var_b)
        te = active.std(ddof=1) * np.sqrt(ppy)
        ir = active.mean() * ppy / te
    return {
        "beta": _num(beta),
        "alpha": _num(alpha),
        "correlation": _num(corr),
        "tracking_error": _num(te),
        "information_ratio": _num(ir),
    }


def analytics(
    nav: np.ndarray, periods: Periods, episodes: Episodes | None = None
) -> dict[str, Any]:
    """Top-5 drawdowns, the monthly returns table and rolling 12/36-month return and vol;
    ``episodes``: ``drawdown_episodes(nav)`` if the caller has it already."""
    monthly = period_returns(nav, periods.month_ends)
    month_end_dates = periods.month_end_dates()
    return {
        "drawdowns": top_drawdowns(nav, periods, episodes=episodes),
        "monthly_returns": monthly_table(nav, periods, monthly),
        "rolling": {str(w): _rolling(nav, periods, w, monthly, month_end_dates) for w in (12, 36)},
    }


def top_drawdowns(
    nav: np.ndarray, periods: Periods, count: int = 5, episodes: Episodes | None = None
) -> list[dict[str, Any]]:
    """The ``count`` deepest episodes: peak, trough, recovery (None while under water), depth,
    sessions peak→trough and trough→recovery, calendar days peak→recovery (or →end)."""
    ep = drawdown_episodes(nav) if episodes is None else episodes
    days = _episode_days(ep, periods.days)
    out = []
    chosen = np.argsort(ep.depths, kind="stable")[:count].tolist()
    troughs = [ep.trough(k) for k in chosen]
    # Every date the table names, formatted in one call.
    sessions = (
        [int(ep.peaks[k]) for k in chosen] + troughs + [int(ep.recoveries[k]) for k in chosen]
    )
    names = periods.isos(np.array(sessions, dtype=np.intp))
    for i, k in enumerate(chosen):
        peak, recovery, trough = int(ep.peaks[k]), int(ep.recoveries[k]), troughs[i]
        out.append(
            {
                "peak": names[i],
                "trough": names[len(chosen) + i],
                "recovery": names[2 * len(chosen) + i] if recovery >= 0 else None,
                "depth": float(ep.depths[k]),
                "sessions_to_trough": trough - peak,
                "sessions_to_recovery": recovery - trough if recovery >= 0 else None,
                "days": int(days[k]),
            }
        )
    return out


def monthly_table(
    nav: np.ndarray, periods: Periods, monthly: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Year × month returns plus the year's return (first and last periods may be partial);
    ``monthly``: ``period_returns(nav, periods.month_ends)`` if the caller has it already."""
    if monthly is None:
        monthly = period_returns(nav, periods.month_ends)
    yearly = period_returns(nav, periods.year_ends).tolist()
    month_index = periods.month_code[periods.month_ends]
    years = month_index // 12
    first_year = int(years[0])
    grid = np.full((int(years[-1]) - first_year + 1, 12), np.nan)
    grid[years - first_year, month_index % 12] = monthly
    table = [[None if v != v else v for v in row] for row in grid.tolist()]  # NaN → None
    present = np.unique(years) - first_year
    return [
        {"year": first_year + int(i), "months": table[int(i)], "annual": yearly[j]}
        for j, i in enumerate(present)
    ]


def _rolling(
    nav: np.ndarray, periods: Periods, months: int, monthly: np.ndarray, dates: list[str]
) -> dict[str, list[Any]]:
    """Trailing ``months``-month return and annualised volatility (monthly returns × √12), at
    each month end with a full window (``monthly``, ``dates``: per month end of ``periods``)."""
    closes = nav[periods.month_ends]
    if len(closes) <= months:
        return {"dates": [], "return": [], "volatility": []}
    ret = closes[months:] / closes[:-months] - 1.0
    windows = np.lib.stride_tricks.sliding_window_view(monthly[1:], months)
    vol = windows.std(axis=1, ddof=1) * np.sqrt(12.0)
    return {
        "dates": dates[months:],
        "return": ret.tolist(),
        "volatility": vol.tolist(),
    }
