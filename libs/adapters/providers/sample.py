"""Offline SAMPLE market and macro data: synthetic, deterministic, clearly labelled "sample".

Not vendor data and not a forecast: a factor-model geometric Brownian motion built so that
backtests, ingestion and the API can run end to end without a network. The label travels with
the data: what this provider serves is stored under its name, "sample" (an asset's
``prices_source``, a macro series' ``source``, an ingestion run's ``source``), and the API
reports every such source as synthetic (docs/api.md).

How it stays deterministic yet current:
- Shocks live on a fixed weekday grid from ``SAMPLE_START`` to ``SAMPLE_HORIZON``, drawn from
  seeds derived from the ticker (crc32, not Python's randomised ``hash``). A session's price
  depends only on the grid and the exchange calendar, never on the day the code runs.
- What is *visible* is capped at ``as_of`` (default: each market's last completed session
  now), so ``make run`` shows fresh data, and a fixed ``as_of`` gives fixed output for tests.
- ``adj_close`` is adjusted relative to the visible end, as a vendor's is: when a new
  ex-dividend date becomes visible, earlier adjusted closes are restated (a realistic input
  for the ingestor's restatement check).

Model (annualised vols, daily = weekday grid of 261 days a year): independent factors US
equity 16 %, international 12 %, Korea 18 %, US rates 7 %, Korean rates 4 %, gold 16 %,
US dollar 8 %, commodities 18 %; each asset loads on them (equities on equity factors,
Treasuries on rates with a small negative equity loading, gold alone) plus its own noise.
KR assets trade on XKRX sessions, US assets on XNYS sessions: a holiday is absent, and the
return across it aggregates the shocks of the skipped weekdays.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from adapters.calendars import ExchangeCalendarsAdapter, exchange_calendar
from adapters.universe import seed_macro_series
from domain.errors import NotFound
from domain.model import (
    BAR_COLUMNS,
    SAMPLE_SOURCE,
    Asset,
    AssetType,
    MacroFrequency,
    MacroSeries,
    Market,
    empty_bars,
)
from domain.ports import PriceFetch, TradingCalendar

# The domain's name for it: every reader of data written under this name is told it is
# synthetic (domain.model.is_synthetic).
SAMPLE_NAME = SAMPLE_SOURCE
SAMPLE_START = date(2005, 1, 3)
SAMPLE_HORIZON = date(2035, 12, 31)
_DAYS_PER_YEAR = 261.0  # weekdays: the grid the shocks are drawn on

FACTORS: tuple[str, ...] = ("us", "intl", "kr", "rates", "kr_rates", "gold", "usd", "commod")
_FACTOR_VOL = np.array([0.16, 0.12, 0.18, 0.07, 0.04, 0.16, 0.08, 0.18])
_FACTOR_SEED = 20050103


@dataclass(frozen=True, slots=True)
class Profile:
    """How one sample asset behaves. ``drift`` is the annual arithmetic total return;
    ``dividend_yield`` is paid ``dividends_per_year`` times (0 = none)."""

    price: float
    loadings: dict[str, float]
    idio_vol: float
    drift: float
    dividend_yield: float = 0.0
    dividends_per_year: int = 4
    volume: float = 1e6
    inception: date = SAMPLE_START
    decimals: int = 2


def _us(
    price: float,
    loadings: dict[str, float],
    idio: float,
    drift: float,
    dy: float,
    volume: float,
    inception: date = SAMPLE_START,
    per_year: int = 4,
) -> Profile:
    return Profile(price, loadings, idio, drift, dy, per_year, volume, inception, 2)


def _kr(
    price: float,
    loadings: dict[str, float],
    idio: float,
    drift: float,
    dy: float,
    volume: float,
    inception: date = SAMPLE_START,
) -> Profile:
    # KRW prices are whole won; Korean dividends are mostly annual (year-end record date).
    return Profile(price, loadings, idio, drift, dy, 1, volume, inception, 0)


PROFILES: dict[str, Profile] = {
    "SPY": _us(120.0, {"us": 1.0}, 0.01, 0.09, 0.018, 8e7),
    "QQQ": _us(39.0, {"us": 1.15}, 0.08, 0.12, 0.006, 5e7),
    "IWM": _us(64.0, {"us": 1.2}, 0.08, 0.08, 0.012, 3e7),
    "DIA": _us(105.0, {"us": 0.95}, 0.04, 0.085, 0.019, 4e6),
    "VTI": _us(58.0, {"us": 1.02}, 0.015, 0.09, 0.017, 3e6),
    "EFA": _us(53.0, {"us": 0.85, "intl": 1.0}, 0.02, 0.06, 0.028, 2e7),
    "EEM": _us(67.0, {"us": 0.9, "intl": 1.4}, 0.06, 0.07, 0.022, 5e7),
    "EWY": _us(32.0, {"us": 0.6, "kr": 1.0, "usd": -0.5}, 0.04, 0.07, 0.015, 4e6),
    "TLT": _us(90.0, {"rates": 2.0, "us": -0.15}, 0.02, 0.035, 0.03, 1e7),
    "IEF": _us(84.0, {"rates": 1.0, "us": -0.06}, 0.01, 0.03, 0.022, 5e6),
    "SHY": _us(81.0, {"rates": 0.25}, 0.004, 0.02, 0.015, 3e6, per_year=12),
    "BIL": _us(45.7, {"rates": 0.01}, 0.001, 0.012, 0.012, 5e6, date(2007, 5, 30), 12),
    "AGG": _us(102.0, {"rates": 0.7, "us": 0.03}, 0.01, 0.03, 0.028, 6e6, per_year=12),
    "TIP": _us(105.0, {"rates": 0.8, "commod": 0.08}, 0.015, 0.03, 0.025, 1e6, per_year=12),
    "LQD": _us(108.0, {"rates": 1.1, "us": 0.15}, 0.02, 0.04, 0.035, 8e6, per_year=12),
    "HYG": _us(92.0, {"rates": 0.3, "us": 0.4}, 0.03, 0.05, 0.055, 1.5e7, date(2007, 4, 11), 12),
    "GLD": _us(43.0, {"gold": 1.0, "usd": -0.3}, 0.01, 0.07, 0.0, 1e7),
    "SLV": _us(13.0, {"gold": 1.5, "commod": 0.3}, 0.06, 0.05, 0.0, 2e7, date(2006, 4, 28)),
    "DBC": _us(25.0, {"commod": 1.0, "us": 0.2}, 0.03, 0.03, 0.0, 2e6, date(2006, 2, 6)),
    "VNQ": _us(55.0, {"us": 1.1, "rates": 0.5}, 0.12, 0.08, 0.04, 5e6),
    "XLK": _us(21.0, {"us": 1.15}, 0.08, 0.12, 0.01, 1e7),
    "XLF": _us(30.0, {"us": 1.2}, 0.12, 0.06, 0.02, 5e7),
    "UUP": _us(25.0, {"usd": 1.0}, 0.01, 0.01, 0.0, 2e6, date(2007, 3, 1)),
    "AAPL": _us(4.5, {"us": 1.2}, 0.25, 0.22, 0.006, 3e8),
    "MSFT": _us(26.0, {"us": 1.0}, 0.18, 0.13, 0.012, 4e7),
    "AMZN": _us(2.2, {"us": 1.25}, 0.28, 0.2, 0.0, 1e8),
    "JPM": _us(38.0, {"us": 1.2}, 0.2, 0.09, 0.028, 2e7),
    "XOM": _us(51.0, {"us": 0.8, "commod": 0.6}, 0.15, 0.06, 0.035, 2e7),
    "005930": _kr(9000.0, {"us": 0.6, "kr": 1.0}, 0.2, 0.12, 0.018, 1.5e7),
    "000660": _kr(20000.0, {"us": 0.7, "kr": 1.2}, 0.32, 0.12, 0.01, 4e6),
    "035420": _kr(60000.0, {"us": 0.5, "kr": 0.9}, 0.3, 0.1, 0.003, 7e5),
    "005380": _kr(55000.0, {"us": 0.5, "kr": 1.0}, 0.25, 0.07, 0.02, 1e6),
    "069500": _kr(12000.0, {"us": 0.6, "kr": 1.0}, 0.01, 0.07, 0.015, 5e6, date(2005, 1, 3)),
    "229200": _kr(10000.0, {"us": 0.6, "kr": 1.2}, 0.12, 0.04, 0.003, 4e6, date(2015, 10, 1)),
    "114800": _kr(5000.0, {"us": -0.6, "kr": -1.0}, 0.01, -0.06, 0.0, 3e7, date(2009, 9, 16)),
    "122630": _kr(10000.0, {"us": 1.2, "kr": 2.0}, 0.02, 0.1, 0.0, 2e7, date(2010, 2, 22)),
    "152380": _kr(50000.0, {"kr_rates": 1.5}, 0.01, 0.025, 0.0, 5e4, date(2012, 1, 20)),
    "360750": _kr(10000.0, {"us": 1.0, "usd": 0.7}, 0.01, 0.1, 0.012, 2e6, date(2020, 8, 7)),
    "086520": _kr(9000.0, {"us": 0.5, "kr": 1.2}, 0.5, 0.15, 0.002, 8e5, date(2007, 7, 20)),
    "091990": _kr(60000.0, {"us": 0.5, "kr": 1.1}, 0.4, 0.05, 0.0, 1e6, date(2017, 7, 28)),
    "247540": _kr(40000.0, {"us": 0.5, "kr": 1.3}, 0.45, 0.15, 0.002, 8e5, date(2019, 3, 5)),
    "263750": _kr(150000.0, {"us": 0.4, "kr": 1.0}, 0.4, 0.05, 0.0, 5e5, date(2017, 9, 14)),
}


def _profile(ticker: str, market: Market, asset_type: AssetType) -> Profile:
    """The seed profile, or a generic one: any asset outside the seed still gets plausible
    sample bars (the universe is data, not code)."""
    if ticker in PROFILES:
        return PROFILES[ticker]
    if market is Market.KR:
        idio = 0.3 if asset_type is AssetType.STOCK else 0.05
        return _kr(20000.0, {"us": 0.5, "kr": 1.0}, idio, 0.07, 0.01, 1e6)
    idio = 0.25 if asset_type is AssetType.STOCK else 0.05
    return _us(50.0, {"us": 1.0}, idio, 0.08, 0.015, 5e6)


def _seed(*parts: str) -> int:
    return zlib.crc32(":".join(parts).encode())


@lru_cache(maxsize=1)
def _weekday_grid() -> pd.DatetimeIndex:
    return pd.bdate_range(SAMPLE_START, SAMPLE_HORIZON)


@lru_cache(maxsize=1)
def _factor_levels() -> np.ndarray:
    """Cumulative log-levels of each factor on the weekday grid (rows) × FACTORS (cols)."""
    rng = np.random.default_rng(_FACTOR_SEED)
    shocks = rng.standard_normal((len(_weekday_grid()), len(FACTORS)))
    shocks *= _FACTOR_VOL / np.sqrt(_DAYS_PER_YEAR)
    return np.cumsum(shocks, axis=0)


def _dividend_dates(sessions: pd.DatetimeIndex, per_year: int) -> np.ndarray:
    """A boolean mask of ex-dividend sessions: the first session on or after a fixed day of the
    paying months (quarterly mid-Mar/Jun/Sep/Dec, monthly the 1st, annual late December)."""
    if per_year <= 0:
        return np.zeros(len(sessions), dtype=bool)
    months = {12: range(1, 13), 4: (3, 6, 9, 12), 1: (12,)}[per_year]
    day = {12: 1, 4: 15, 1: 26}[per_year]
    mask = np.zeros(len(sessions), dtype=bool)
    for year in range(sessions[0].year, sessions[-1].year + 1):
        for month in months:
            pos = sessions.searchsorted(pd.Timestamp(year, month, day))
            if pos < len(sessions) and pos > 0:
                mask[pos] = True
    return mask


@lru_cache(maxsize=512)
def _full_history(ticker: str, market: Market, asset_type: AssetType) -> pd.DataFrame:
    """Raw OHLCV over every session to the calendar's end, plus ``div_factor`` (Yahoo's
    1 - dividend / previous close on ex-dates, else 1) for the adjusted close."""
    profile = _profile(ticker, market, asset_type)
    cal = exchange_calendar(market)
    start = max(profile.inception, SAMPLE_START)
    sessions = cal.sessions_in_range(pd.Timestamp(start), cal.last_session)
    grid = _weekday_grid()
    pos = grid.get_indexer(sessions)
    sessions, pos = sessions[pos >= 0], pos[pos >= 0]

    rng = np.random.default_rng(_seed(market.value, ticker))
    idio = rng.standard_normal(len(grid)) * profile.idio_vol / np.sqrt(_DAYS_PER_YEAR)
    loadings = np.array([profile.loadings.get(f, 0.0) for f in FACTORS])
    daily_var = float(np.sum((loadings * _FACTOR_VOL) ** 2) + profile.idio_vol**2) / _DAYS_PER_YEAR
    # Ito: a log drift of mu - sigma^2/2 gives an arithmetic expected return of mu.
    log_drift = profile.drift / _DAYS_PER_YEAR - daily_var / 2
    level = _factor_levels() @ loadings + np.cumsum(idio) + log_drift * np.arange(len(grid))
    total_return = np.diff(level[pos], prepend=level[pos[0]])

    ex = _dividend_dates(sessions, profile.dividends_per_year if profile.dividend_yield else 0)
    payout = profile.dividend_yield / max(profile.dividends_per_year, 1)
    # On an ex-date the raw price falls by the dividend; the total return is unchanged.
    price_return = np.where(ex, np.log1p(-payout), 0.0) + total_return
    raw = profile.price * np.exp(np.cumsum(price_return))
    close = np.round(raw, profile.decimals)
    prev_close = np.concatenate([[close[0]], close[:-1]])
    dividend = np.where(ex, np.round(prev_close * np.exp(total_return) * payout, 4), 0.0)

    sigma = np.sqrt(daily_var)
    open_ = close * np.exp(-rng.normal(0.0, 0.6 * sigma, len(close)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.5 * sigma, len(close))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.5 * sigma, len(close))))
    open_, high, low = (np.round(a, profile.decimals) for a in (open_, high, low))
    # Rounding may undo the ordering by a tick: restore low <= open, close <= high.
    high = np.maximum.reduce([high, open_, close])
    low = np.minimum.reduce([low, open_, close])
    busy = np.abs(total_return) / sigma
    volume = np.round(profile.volume * np.exp(rng.normal(0.0, 0.3, len(close)) + 0.3 * busy))

    return pd.DataFrame(
        {
            "date": sessions.date,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "dividend": dividend,
            "div_factor": np.where(ex, 1.0 - dividend / prev_close, 1.0),
        }
    )


def _visible(history: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Bars up to ``as_of`` with ``adj_close`` adjusted relative to that end."""
    frame = history[history["date"] <= as_of]
    # The adjustment of bar t is the product of the factors of the ex-dates after t.
    later = frame["div_factor"].to_numpy()[::-1].cumprod()[::-1]
    after = np.concatenate([later[1:], [1.0]])
    return frame.assign(adj_close=frame["close"].to_numpy() * after)


class SampleMarketDataProvider:
    """Synthetic daily bars for any asset (seed profiles for the shipped universe)."""

    name = SAMPLE_NAME

    def __init__(
        self,
        as_of: date | None = None,
        calendar: TradingCalendar | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._as_of = as_of
        self._calendar = calendar or ExchangeCalendarsAdapter()
        self._now = now or (lambda: datetime.now(UTC))

    def visible_end(self, market: Market) -> date:
        """The last session this provider shows for a market."""
        if self._as_of is not None:
            return self._as_of
        return self._calendar.last_completed_session(market, self._now())

    def history(
        self, asset: Asset, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """Bars (BAR_COLUMNS plus ``dividend``) in [start, end], synchronously."""
        full = _full_history(asset.ticker, asset.market, asset.asset_type)
        frame = _visible(full, self.visible_end(asset.market))
        if start is not None:
            frame = frame[frame["date"] >= start]
        if end is not None:
            frame = frame[frame["date"] <= end]
        return frame.loc[:, [*BAR_COLUMNS, "dividend"]].reset_index(drop=True)

    async def fetch(
        self, assets: Sequence[Asset], start: date | None, end: date | None
    ) -> PriceFetch:
        bars: dict[int, pd.DataFrame] = {}
        actions: dict[int, pd.DataFrame] = {}
        for asset in assets:
            if asset.id is None:
                raise ValueError(f"asset {asset.ticker} has no id")
            frame = self.history(asset, start, end)
            bars[asset.id] = frame.loc[:, list(BAR_COLUMNS)] if not frame.empty else empty_bars()
            paid = frame[frame["dividend"] > 0]
            actions[asset.id] = pd.DataFrame(
                {"date": paid["date"], "dividend": paid["dividend"], "split": 0.0}
            ).reset_index(drop=True)
        return PriceFetch(bars=bars, actions=actions)


# ---------------------------------------------------------------- macro

# Every series of the shipped macro catalog (adapters/universe/macro_series.csv), so that
# ``make run`` leaves no catalog series without observations.
SAMPLE_MACRO_CODES: tuple[str, ...] = (
    "FEDFUNDS",
    "DTB3",
    "DGS2",
    "DGS10",
    "T10Y2Y",
    "CPIAUCSL",
    "UNRATE",
    "VIXCLS",
    "DEXKOUS",
    "CPILFESL",
    "PAYEMS",
    "INDPRO",
    "USREC",
    "GDPC1",
    "BAMLH0A0HYM2",
    "DCOILWTICO",
)
# Statistics are published after the period they describe: monthly ones about six weeks
# later, GDP's advance estimate about a month after its quarter ends.
_RELEASE_LAG_DAYS = {MacroFrequency.MONTHLY: 45, MacroFrequency.QUARTERLY: 120}


def _revert(shocks: np.ndarray, mean: float, kappa: float, x0: float) -> np.ndarray:
    """A mean-reverting path driven by the given shocks, one step per shock."""
    out = np.empty(len(shocks))
    x = x0
    for i, shock in enumerate(shocks.tolist()):
        x += kappa * (mean - x) + shock
        out[i] = x
    return out


def _ou(
    rng: np.random.Generator, n: int, mean: float, kappa: float, vol: float, x0: float
) -> np.ndarray:
    """An Ornstein-Uhlenbeck path (mean-reverting), one step per grid point."""
    return _revert(rng.standard_normal(n) * vol, mean, kappa, x0)


def _log_growth(levels: np.ndarray) -> np.ndarray:
    """Period log changes, the first one zero."""
    logs = np.log(levels)
    return np.diff(logs, prepend=logs[0])


def _recessions(unrate: np.ndarray, rise: float = 0.5, recovery: float = 0.1) -> np.ndarray:
    """1 in recession months, else 0. A recession starts when unemployment (3-month average)
    has risen ``rise`` points within six months and ends once it is ``recovery`` points below
    its peak: about one month in ten over the sample, a few months to a year at a time, as in
    the real US cycle. Each month depends only on the months before it."""
    smooth = pd.Series(unrate).rolling(3, min_periods=1).mean().to_numpy()
    flag = np.zeros(len(smooth))
    peak: float | None = None
    for i, level in enumerate(smooth.tolist()):
        if peak is None and level - smooth[max(i - 6, 0)] >= rise:
            peak = level
        elif peak is not None:
            peak = max(peak, level)
            if peak - level >= recovery:
                peak = None
        flag[i] = 0.0 if peak is None else 1.0
    return flag


def _cycle_paths(
    months: pd.DatetimeIndex,
    days: pd.DatetimeIndex,
    cpi: np.ndarray,
    unrate: np.ndarray,
    vix: np.ndarray,
) -> dict[str, pd.DataFrame]:
    """The series that follow the business cycle of the core paths: activity falls as
    unemployment rises, core inflation follows headline, credit spreads follow the VIX, oil
    follows the commodity factor the sample commodity assets load on. Each draws from its own
    seed, so adding one never changes another."""

    def rng(code: str) -> np.random.Generator:
        return np.random.default_rng(_seed("macro", code))

    jobless_change = np.diff(unrate, prepend=unrate[0])
    core_step = 0.0018 + 0.25 * (_log_growth(cpi) - 0.0021)
    core = 201.0 * np.exp(np.cumsum(core_step + rng("CPILFESL").normal(0.0, 0.0008, len(months))))
    payrolls = 132_500.0 * np.exp(
        np.cumsum(0.0011 - 0.012 * jobless_change + rng("PAYEMS").normal(0.0, 0.0007, len(months)))
    )
    production = 95.5 * np.exp(
        np.cumsum(0.0006 - 0.02 * jobless_change + rng("INDPRO").normal(0.0, 0.006, len(months)))
    )

    quarters = pd.date_range(months[0], months[-1], freq="QS")
    quarter_end = np.minimum(np.arange(len(quarters)) * 3 + 2, len(unrate) - 1)
    quarter_jobless = np.diff(unrate[quarter_end], prepend=unrate[0])
    gdp = 16_000.0 * np.exp(
        np.cumsum(0.005 - 0.01 * quarter_jobless + rng("GDPC1").normal(0.0, 0.004, len(quarters)))
    )

    spread = np.maximum(
        1.2 + 0.17 * vix + _ou(rng("BAMLH0A0HYM2"), len(days), 0.0, 0.01, 0.05, 0.0), 2.0
    )
    commodities = _factor_levels()[:, FACTORS.index("commod")]
    oil_shocks = 1.6 * np.diff(commodities, prepend=0.0)
    oil_shocks += rng("DCOILWTICO").normal(0.0, 0.012, len(days))
    oil = np.exp(_revert(oil_shocks, np.log(65.0), 0.002, np.log(45.0)))

    def on(index: pd.DatetimeIndex, values: np.ndarray, decimals: int) -> pd.DataFrame:
        return pd.DataFrame({"date": index.date, "value": np.round(values, decimals)})

    return {
        "CPILFESL": on(months, core, 3),
        "PAYEMS": on(months, payrolls, 0),
        "INDPRO": on(months, production, 4),
        "USREC": on(months, _recessions(unrate), 0),
        "GDPC1": on(quarters, gdp, 3),
        "BAMLH0A0HYM2": on(days, spread, 2),
        "DCOILWTICO": on(days, oil, 2),
    }


@lru_cache(maxsize=1)
def _macro_paths() -> dict[str, pd.DataFrame]:
    """Every sample series over the fixed grid (before the ``as_of`` cap)."""
    months = pd.date_range(SAMPLE_START.replace(day=1), SAMPLE_HORIZON, freq="MS")
    days = _weekday_grid()
    rng = np.random.default_rng(_seed("macro"))
    fed = np.maximum(_ou(rng, len(months), 2.5, 0.015, 0.22, 2.25), 0.05)
    cpi = 190.7 * np.exp(np.cumsum(0.0021 + rng.normal(0.0, 0.0025, len(months))))
    unrate = np.clip(_ou(rng, len(months), 5.5, 0.03, 0.18, 5.3), 3.4, 14.0)

    # Daily rates follow the policy rate of their month plus their own mean-reverting spread.
    fed_daily = fed[months.searchsorted(days, side="right") - 1]
    dtb3 = np.maximum(fed_daily - 0.08 + _ou(rng, len(days), 0.0, 0.05, 0.02, 0.0), 0.0)
    dgs2 = np.maximum(fed_daily + 0.25 + _ou(rng, len(days), 0.0, 0.01, 0.04, 0.0), 0.05)
    dgs10 = np.maximum(0.5 * fed_daily + 2.2 + _ou(rng, len(days), 0.0, 0.004, 0.05, 0.0), 0.3)
    vix = 10.0 + 8.0 * np.exp(_ou(rng, len(days), 0.0, 0.02, 0.09, 0.0))
    krw = 1150.0 * np.exp(_ou(rng, len(days), 0.0, 0.002, 0.005, np.log(1040 / 1150)))

    def daily(values: np.ndarray, decimals: int) -> pd.DataFrame:
        return pd.DataFrame({"date": days.date, "value": np.round(values, decimals)})

    dgs10_r, dgs2_r = np.round(dgs10, 2), np.round(dgs2, 2)
    return {
        "FEDFUNDS": pd.DataFrame({"date": months.date, "value": np.round(fed, 2)}),
        "CPIAUCSL": pd.DataFrame({"date": months.date, "value": np.round(cpi, 3)}),
        "UNRATE": pd.DataFrame({"date": months.date, "value": np.round(unrate, 1)}),
        "DTB3": daily(dtb3, 2),
        "DGS2": daily(dgs2_r, 2),
        "DGS10": daily(dgs10_r, 2),
        "T10Y2Y": daily(dgs10_r - dgs2_r, 2),
        "VIXCLS": daily(vix, 2),
        "DEXKOUS": daily(krw, 2),
        **_cycle_paths(months, days, cpi, unrate, vix),
    }


@lru_cache(maxsize=1)
def _us_holidays() -> frozenset[date]:
    """Weekdays the US market is closed: FRED's daily series carry "." (NaN) there."""
    cal = exchange_calendar(Market.US)
    days = _weekday_grid()
    inside = days[(days >= cal.first_session) & (days <= cal.last_session)]
    return frozenset(inside.difference(cal.sessions).date)


@lru_cache(maxsize=1)
def _sample_catalog() -> tuple[MacroSeries, ...]:
    return tuple(s for s in seed_macro_series() if s.code in SAMPLE_MACRO_CODES)


class SampleMacroDataProvider:
    """Synthetic FRED-like series for the whole shipped catalog: rates, inflation, labour,
    activity, recessions, GDP, volatility, credit spreads, oil and KRW per USD. Daily series
    have NaN on US holidays, as FRED's "." would be; monthly and quarterly ones appear only
    once they would have been published."""

    name = SAMPLE_NAME

    def __init__(
        self, as_of: date | None = None, now: Callable[[], datetime] | None = None
    ) -> None:
        self._as_of = as_of
        self._now = now or (lambda: datetime.now(UTC))

    def catalog(self) -> list[MacroSeries]:
        return list(_sample_catalog())

    async def fetch(self, code: str, start: date | None) -> pd.DataFrame:
        return self.observations(code, start)

    def observations(self, code: str, start: date | None = None) -> pd.DataFrame:
        frequency = {s.code: s.frequency for s in _sample_catalog()}.get(code)
        paths = _macro_paths()
        if frequency is None or code not in paths:
            raise NotFound(f"sample macro series {code!r} does not exist")
        as_of = self._as_of or self._now().date()
        frame = paths[code]
        lag = _RELEASE_LAG_DAYS.get(frequency)
        if lag is not None:
            frame = frame[frame["date"] <= as_of - timedelta(days=lag)]
        else:
            # A daily observation is published the next day, so "today" is never visible.
            frame = frame[frame["date"] < as_of]
        if start is not None:
            frame = frame[frame["date"] >= start]
        if lag is None:
            holidays = _us_holidays()
            frame = frame.assign(value=frame["value"].where(~frame["date"].isin(holidays)))
        return frame.reset_index(drop=True)
