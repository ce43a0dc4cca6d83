"""The backtest engine: a pure function of (spec, market data) → outcome (docs/engine.md)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from domain.backtest.errors import UnrunnableBacktest
from domain.backtest.metrics import Periods, analytics, compute_metrics, drawdown_episodes
from domain.backtest.panel import (
    Panel,
    SessionIndex,
    asof,
    cash_growth,
    repair_columns,
    resolve_base_currency,
    to_base,
)
from domain.backtest.simulate import Costs, Schedule, Simulation, apply_bands, simulate
from domain.backtest.spec import BacktestSpec
from domain.backtest.strategies import (
    DAYS_PER_MONTH,
    HISTORY_MARGIN_DAYS,
    STRATEGIES,
    SignalContext,
    StrategyDefinition,
)
from domain.model import Currency

_PERIOD_MONTHS = {"M": 1, "Q": 3, "A": 12}


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketData:
    """Inputs of one backtest, already loaded. ``prices``: DatetimeIndex × one column per
    universe label (adjusted closes, NaN where an asset has no bar, never zero); rows before
    ``spec.start`` are the warm-up history the signals may use (``required_history_days``).
    ``currencies``: label → quote currency. ``risk_free``: annualised percent (FRED DTB3).
    ``fx``: KRW per USD (FRED DEXKOUS)."""

    prices: pd.DataFrame
    currencies: dict[str, Currency] = field(default_factory=dict)
    benchmark: pd.Series | None = None
    benchmark_currency: Currency | None = None
    risk_free: pd.Series | None = None
    fx: pd.Series | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestOutcome:
    """What a backtest produced.

    ``trades``: the trade log, one JSON-ready record per trade (execution ``date``,
    ``decision_date``, target ``weights`` and pre-trade ``drifted`` weights of the assets held,
    ``cash``, ``turnover``, ``fee``, ``trigger``), built on first access by ``records`` from the
    arrays the engine computed (formatting 200 assets × 360 trades into dicts costs more than
    the backtest itself). ``turnover`` and ``fees`` align with it; ``target_weights`` /
    ``drifted_weights`` are the raw matrices (trades × ``labels``)."""

    nav: pd.Series
    benchmark_nav: pd.Series | None
    metrics: dict[str, float | None]
    analytics: dict[str, Any] = field(default_factory=dict)
    turnover: list[float] = field(default_factory=list)
    fees: list[float] = field(default_factory=list)
    base_currency: Currency | None = None
    labels: tuple[str, ...] = ()
    target_weights: np.ndarray | None = None
    drifted_weights: np.ndarray | None = None
    records: Callable[[], list[dict[str, Any]]] | None = field(default=None, repr=False)
    _cache: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def trades(self) -> list[dict[str, Any]]:
        if "trades" not in self._cache:
            self._cache["trades"] = self.records() if self.records is not None else []
        return self._cache["trades"]


def strategy_definition(spec: BacktestSpec) -> tuple[StrategyDefinition, Any]:
    definition = STRATEGIES.get(spec.strategy.type)
    if definition is None:
        raise UnrunnableBacktest(
            f"unknown strategy {spec.strategy.type!r}",
            [{"field": "strategy.type", "message": f"one of {', '.join(STRATEGIES)}"}],
        )
    try:
        params = definition.params.model_validate(spec.strategy.params)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(["strategy", "params", *map(str, e["loc"])]), "message": e["msg"]}
            for e in exc.errors()
        ]
        raise UnrunnableBacktest("invalid strategy parameters", errors) from exc
    return definition, params


def required_history_days(spec: BacktestSpec) -> int:
    """Calendar days of prices the strategy needs before ``spec.start`` (0: none)."""
    definition, params = strategy_definition(spec)
    months = definition.lookback_months(params)
    return 0 if months == 0 else months * DAYS_PER_MONTH + HISTORY_MARGIN_DAYS


def _columns(spec: BacktestSpec, prices: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray]:
    """Labels and column positions of the universe in the panel.

    Columns are matched by universe item (ticker or id as text); when the loader already labelled
    one column per universe item (ids resolved to tickers), its columns are taken in order."""
    wanted = tuple(str(item) for item in spec.universe)
    if len(prices.columns) == len(wanted) and all(
        str(c) == w for c, w in zip(prices.columns, wanted, strict=True)
    ):  # the usual case, the panel is in universe order: no index to build
        return wanted, np.arange(len(wanted))
    columns = pd.Index([str(c) for c in prices.columns])
    where = columns.get_indexer(pd.Index(wanted))
    if (where >= 0).all():
        return wanted, where
    positional = len(columns) == len(wanted) and columns.is_unique
    ids_only = all(isinstance(item, int) or where[k] == k for k, item in enumerate(spec.universe))
    if positional and ids_only:
        return tuple(columns), np.arange(len(columns))
    missing = [label for label, j in zip(wanted, where, strict=True) if j < 0]
    raise UnrunnableBacktest(
        f"no prices for {', '.join(missing)}",
        [{"field": "universe", "message": f"unknown asset {m}"} for m in missing],
    )


def _raw_prices(
    data: MarketData, where: np.ndarray, end: pd.Timestamp
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """The universe's closes up to ``end``, sorted by date: a row-major (C) copy. pandas hands
    out a column-major view, but the NAV's per-segment mat-vecs and every signal read whole
    sessions (rows); rows contiguous make both faster."""
    prices = data.prices
    index = pd.DatetimeIndex(prices.index)
    stamps = index.asi8  # int64 stamps: a sortedness check without building pandas' engine
    order = None if (stamps[1:] >= stamps[:-1]).all() else np.argsort(stamps, kind="stable")
    if order is not None:
        index = index[order]
    stop = int(index.searchsorted(end, side="right"))
    values = prices.to_numpy(dtype=float)
    rows = values[:stop] if order is None else values[order[:stop]]
    identity = len(where) == values.shape[1] and bool((where == np.arange(len(where))).all())
    raw = np.array(rows if identity else rows[:, where], order="C")
    return raw, index[:stop]


def _columns_all_positive(raw: np.ndarray) -> np.ndarray:
    """``(raw > 0).all(axis=0)``, folding rows together first: a reduction down a narrow
    row-major array runs one tiny inner loop per session."""
    good = raw > 0
    n, m = good.shape
    fold = max(1, 512 // max(m, 1))  # sessions folded into one row of ~512 entries
    whole = n // fold * fold
    head = good[:whole].reshape(-1, fold * m).all(axis=0).reshape(fold, m).all(axis=0)
    result = np.asarray(head & good[whole:].all(axis=0))
    return result


def _build_panel(spec: BacktestSpec, data: MarketData) -> Panel:
    labels, where = _columns(spec, data.prices)
    raw, dates = _raw_prices(data, where, pd.Timestamp(spec.end))
    # One pass finds the columns with a hole or a non-positive close (NaN > 0 is False); every
    # later repair touches only those. A session with no bar at all needs every column to have
    # a hole, so the (rare) row check runs only then.
    clean = _columns_all_positive(raw)
    if not clean.any() and len(raw):
        has_bar: np.ndarray = ~np.isnan(raw).all(axis=1)  # sessions where no asset traded
        if not has_bar.all():
            keep = np.flatnonzero(has_bar)
            raw, dates = raw[keep], dates[keep]
    start_idx = int(dates.searchsorted(pd.Timestamp(spec.start)))
    if start_idx >= len(dates) - 1:
        raise UnrunnableBacktest(
            f"no prices between {spec.start} and {spec.end}",
            [{"field": "start", "message": "no data in the requested range"}],
        )
    base = resolve_base_currency(data.currencies, labels, spec.base_currency)
    fx = None if data.fx is None else asof(data.fx, dates)
    for currency in {data.currencies.get(label) for label in labels} - {None, base}:
        cols = [j for j, label in enumerate(labels) if data.currencies.get(label) == currency]
        raw[:, cols] = to_base(raw[:, cols], currency, base, fx)
        clean[cols] = (raw[:, cols] > 0).all(axis=0)  # a missing FX quote is a hole too
    benchmark = None
    if data.benchmark is not None:
        bench = asof(data.benchmark, dates)
        benchmark = to_base(bench, data.benchmark_currency, base, fx)
    first_valid = repair_columns(raw, np.flatnonzero(~clean))  # fills raw in place
    return Panel(
        dates=dates,
        labels=labels,
        prices=raw,
        first_valid=first_valid,
        start_idx=start_idx,
        cash_growth=cash_growth(data.risk_free, dates),
        benchmark=benchmark,
        base_currency=base,
        session_index=SessionIndex.of(dates),
    )


def decision_sessions(
    dates: pd.DatetimeIndex, start_idx: int, rebalance: str, month: np.ndarray | None = None
) -> np.ndarray:
    """The first session of the window, then the last session of every calendar period.
    ``month``: months since 1970-01 of each session (wall clock), if the caller has them."""
    if rebalance == "none":
        return np.array([start_idx])
    months = _PERIOD_MONTHS[rebalance]
    if month is None:
        wall = dates if dates.tz is None else dates.tz_localize(None)
        month = wall.values.astype("datetime64[M]").astype(np.int64)
    # 1970 × 12 is a multiple of every period, so periods split as on calendar years.
    code = month // months
    # The panel's last session is never a known period end (the next session is unseen).
    ends = np.flatnonzero(code[1:] != code[:-1])
    ends = ends[ends > start_idx]
    return np.concatenate([[start_idx], ends])


def _weight_maps(labels: np.ndarray, matrix: np.ndarray) -> list[dict[str, float]]:
    """Row-wise {label: weight} of the positive entries, from one vectorised nonzero pass."""
    rows, cols = np.nonzero(matrix > 0)
    names = labels[cols].tolist()
    values = matrix[rows, cols].tolist()
    bounds = np.searchsorted(rows, np.arange(len(matrix) + 1)).tolist()
    return [dict(zip(names[a:b], values[a:b], strict=True)) for a, b in itertools.pairwise(bounds)]


def _trades(panel: Panel, sim: Simulation) -> list[dict[str, Any]]:
    """One JSON-ready record per trade; weights list only the assets held (> 0)."""
    schedule = sim.schedule
    labels = np.array(panel.labels, dtype=object)
    day = panel.dates.values.astype("datetime64[D]")
    executed = np.datetime_as_string(day[schedule.executions]).tolist()
    decided = np.datetime_as_string(day[schedule.decisions]).tolist()
    cash = np.maximum(0.0, 1.0 - schedule.targets.sum(axis=1)).tolist()
    return [
        {
            "date": executed[k],
            "decision_date": decided[k],
            "weights": target,
            "drifted": drifted,
            "cash": cash[k],
            "turnover": turnover,
            "fee": fee,
            "trigger": trigger,
        }
        for k, (target, drifted, turnover, fee, trigger) in enumerate(
            zip(
                _weight_maps(labels, schedule.targets),
                _weight_maps(labels, sim.drifted),
                sim.turnover.tolist(),
                sim.fees.tolist(),
                schedule.triggers.tolist(),
                strict=True,
            )
        )
    ]


def run_backtest(spec: BacktestSpec, data: MarketData) -> BacktestOutcome:
    """Run one backtest. Pure: no I/O, inputs are never mutated."""
    definition, params = strategy_definition(spec)
    panel = _build_panel(spec, data)
    month = None if panel.session_index is None else panel.session_index.month
    decisions = decision_sessions(panel.dates, panel.start_idx, spec.rebalance, month)
    lag = 1 if spec.execution == "next_close" else 0
    last = len(panel.dates) - 1
    decisions = decisions[decisions + lag <= last]
    ctx = SignalContext(
        dates=panel.dates,
        labels=panel.labels,
        prices=panel.prices,
        first_valid=panel.first_valid,
        cash_growth=panel.cash_growth,
        decisions=decisions,
        session_index=panel.session_index,
    )
    lookback = ctx.months_back(definition.lookback_months(params))
    if not ctx.listed_since(lookback).any():
        raise UnrunnableBacktest(
            "no asset has enough history for the strategy's lookback in the requested range",
            [{"field": "start", "message": "too short for the lookback"}],
        )
    targets = definition.weights(ctx, params)
    schedule = Schedule(
        decisions=decisions,
        executions=decisions + lag,
        targets=targets,
        triggers=np.full(len(decisions), "calendar"),
    )
    sim = simulate(
        panel.prices,
        panel.cash_growth,
        apply_bands(panel.prices, schedule, spec.rebalance_band, lag),
        start=panel.start_idx,
        capital=spec.initial_capital,
        costs=Costs(fee_rate=spec.fee_bps / 10_000.0, min_fee=spec.min_fee),
    )
    return _outcome(spec, panel, sim)


def _outcome(spec: BacktestSpec, panel: Panel, sim: Simulation) -> BacktestOutcome:
    window = panel.dates[panel.start_idx :]
    sessions = panel.session_index
    if sessions is None:
        periods = Periods.of(window)
    else:  # tz-naive: the same day and month numbers, already computed for the panel
        start = panel.start_idx
        periods = Periods.of(window, sessions.day[start:], sessions.month[start:])
    growth = panel.cash_growth[panel.start_idx :]
    cash_returns = growth[1:] / growth[:-1] - 1.0
    bench_nav = None
    if panel.benchmark is not None:
        bench = panel.benchmark[panel.start_idx :]
        first = np.flatnonzero(np.isfinite(bench))
        if len(first):
            bench_nav = bench / bench[first[0]] * spec.initial_capital
    turnover = float(sim.turnover[1:].sum()) / 2.0  # one-way, the initial purchase excluded
    episodes = drawdown_episodes(sim.nav)
    metrics = compute_metrics(
        sim.nav,
        periods,
        cash_returns,
        bench_nav,
        turnover=turnover,
        fees=float(sim.fees.sum()),
        episodes=episodes,
    )
    return BacktestOutcome(
        nav=pd.Series(sim.nav, index=window, name="nav"),
        benchmark_nav=None
        if bench_nav is None
        else pd.Series(bench_nav, index=window, name="benchmark"),
        labels=panel.labels,
        target_weights=sim.schedule.targets,
        drifted_weights=sim.drifted,
        records=lambda: _trades(panel, sim),
        metrics=metrics,
        analytics=analytics(sim.nav, periods, episodes),
        turnover=sim.turnover.tolist(),
        fees=sim.fees.tolist(),
        base_currency=panel.base_currency,
    )
