"""Backtest engine speed: ``make bench-engine`` (``python -m bench.engine``).

Every catalog strategy runs on a 20-asset × 30-year and a 200-asset × 25-year daily panel
(synthetic one-factor GBM with fixed seeds, bench/engine_panels.py), monthly rebalancing, 5 bp
fees, a benchmark column, full run: panel preparation, weights, NAV, metrics and analytics.
``records_ms`` is the extra time to format the trade records as JSON-ready dicts (built
lazily on first access of ``outcome.trades``). ``peak_mb`` is the engine's peak allocation
(tracemalloc) beside ``panel_mb``.

The floor, in the same run: ``numpy_floor`` records time a plain numpy sketch of the original
app's two strategies (equal weight monthly, and its dual momentum variant: share of positive
1..12-month returns, top N, score-weighted) with forward fill, weights held between month
ends, NAV and headline metrics, so "within 2x of the floor" is checked on this machine, now.

Peers on the same panels in the same run: bt (``bt.algos`` equal weight monthly, momentum
top N) and vectorbt (``Portfolio.from_orders`` with target percents on the same rebalance
days; its momentum weights are computed with pandas inside the timed call). Peers that are
not installed are skipped (``uv sync --group bench``). ``BENCH_ENGINE_PEERS=0`` skips them
too, for a quick check of our engine against the floor (the default runs them); such a run
prints its figures but leaves the results file alone. Results go to
``bench/results/engine.json``; the last line printed is a one-line summary.
"""

from __future__ import annotations

import os

# One BLAS thread: the backtester runs one backtest per worker thread, and on a shared 2-core
# machine OpenBLAS's own threads oversubscribe the CPUs (a 200×200 Cholesky took 185 ms instead
# of 0.5 ms). Set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.engine_panels import gbm_panel  # noqa: E402
from domain.backtest import BacktestSpec, MarketData, StrategySpec, run_backtest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"
PANELS = ((20, 30, 11), (200, 25, 12))  # assets, years, seed
WARMUP_SESSIONS = 300  # the first ~14 months are lookback history, the backtest starts after
OPTIMIZERS = {"risk_parity", "min_variance", "max_sharpe"}
TOP_N = 5

STRATEGIES: list[tuple[str, str, dict[str, Any]]] = [
    ("equal_weight", "equal_weight", {}),
    ("fixed_weights", "fixed_weights", {}),  # weights filled in per panel
    ("momentum", "momentum", {"top_n": TOP_N, "lookback_months": 12}),
    ("dual_momentum", "dual_momentum", {"top_n": TOP_N, "lookback_months": 12}),
    ("dual_momentum_score", "dual_momentum", {"variant": "score", "top_n": TOP_N}),
    ("inverse_volatility", "inverse_volatility", {}),
    ("risk_parity", "risk_parity", {}),
    ("min_variance", "min_variance", {}),
    ("max_sharpe", "max_sharpe", {}),
]


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    result = fn()  # warm-up (imports, numba compilation for vectorbt)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples), result


def _spec(name: str, params: dict[str, Any], prices: pd.DataFrame) -> BacktestSpec:
    labels = list(prices.columns)
    if name == "fixed_weights":
        params = {"weights": {label: 1.0 / len(labels) for label in labels}}
    return BacktestSpec(
        strategy=StrategySpec(type=name, params=params),
        universe=labels,
        start=prices.index[WARMUP_SESSIONS].date(),
        end=prices.index[-1].date(),
        rebalance="M",
        fee_bps=5.0,
    )


def _peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench_ours(prices: pd.DataFrame) -> list[dict[str, Any]]:
    data = MarketData(prices=prices, benchmark=prices.iloc[:, 0])
    records = []
    for label, name, params in STRATEGIES:
        spec = _spec(name, params, prices)
        repeats = (
            3 if name in OPTIMIZERS and prices.shape[1] > 50 else 7 if name in OPTIMIZERS else 21
        )
        median_ms, outcome = _time(lambda spec=spec: run_backtest(spec, data), repeats)
        started = time.perf_counter()
        n_records = len(outcome.trades)
        records_ms = (time.perf_counter() - started) * 1e3
        records.append(
            {
                "engine": "ours",
                "strategy": label,
                "n_assets": prices.shape[1],
                "n_days": len(prices),
                "median_ms": round(median_ms, 3),
                "records_ms": round(records_ms, 3),
                "rebalances": n_records,
                "peak_mb": round(_peak_mb(lambda spec=spec: run_backtest(spec, data)), 2),
                "panel_mb": round(prices.to_numpy().nbytes / 2**20, 2),
                "cagr": outcome.metrics["cagr"],
            }
        )
        print(f"ours     {label:22s} {prices.shape[1]:4d}x{len(prices):5d}  {median_ms:9.2f} ms")
    return records


def _floor_run(prices: pd.DataFrame, strategy: str) -> float:
    """The plain numpy sketch: what the original's two strategies cost without any engine
    (kept lean on purpose, so the floor is a fair one)."""
    p = prices.to_numpy(dtype=float).copy()
    n, m = p.shape
    gaps = np.flatnonzero(np.isnan(p).any(axis=0))
    rows = np.where(np.isnan(p[:, gaps]), 0, np.arange(n)[:, None])
    np.maximum.accumulate(rows, axis=0, out=rows)
    p[:, gaps] = p[rows, gaps[None, :]]  # forward fill the columns that have holes
    listed = ~np.isnan(p)
    p[:, gaps] = np.where(listed[:, gaps], p[:, gaps], 1.0)
    month = prices.index.values.astype("datetime64[M]")
    ends = np.flatnonzero(month[1:] != month[:-1])
    ends = ends[ends >= WARMUP_SESSIONS]
    if strategy == "equal_weight":
        w = listed[ends].astype(float)
    else:  # score: share of positive 1..12-month (21-session) trailing returns, top N
        score = np.zeros((len(ends), m))
        for h in range(1, 13):
            back = np.maximum(ends - 21 * h, 0)
            score += (p[ends] > p[back]) & listed[back]
        score /= 12.0
        cut = -np.sort(-score, axis=1)[:, TOP_N - 1 : TOP_N]
        w = np.where((score >= cut) & (score > 0), score, 0.0)
    w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    # Buy at each month end, hold the shares to the next: one mat-vec per month.
    bounds = np.append(ends, n - 1)
    nav = np.empty(n - ends[0])
    value = 1.0
    for k in range(len(ends)):
        a, b = bounds[k], bounds[k + 1]
        path = p[a : b + 1] @ (w[k] / p[a])
        nav[a - ends[0] : b - ends[0] + 1] = value * path
        value *= path[-1]
    daily = nav[1:] / nav[:-1] - 1.0
    years = len(nav) / 252.0
    cagr = nav[-1] ** (1.0 / years) - 1.0
    _vol = daily.std() * np.sqrt(252.0)
    _sharpe = daily.mean() / daily.std() * np.sqrt(252.0)
    _mdd = (nav / np.maximum.accumulate(nav)).min() - 1.0
    return float(cagr)


def bench_floor(prices: pd.DataFrame) -> list[dict[str, Any]]:
    records = []
    for strategy in ("equal_weight", "dual_momentum_score"):
        median_ms, cagr = _time(lambda strategy=strategy: _floor_run(prices, strategy), 21)
        records.append(
            {
                "engine": "numpy_floor",
                "strategy": strategy,
                "n_assets": prices.shape[1],
                "n_days": len(prices),
                "median_ms": round(median_ms, 3),
                "cagr": cagr,
            }
        )
        print(f"floor    {strategy:22s} {prices.shape[1]:4d}x{len(prices):5d}  {median_ms:9.2f} ms")
    return records


def _rebalance_days(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Month-end sessions after the warm-up: the decision days of our monthly schedule."""
    month = index.to_period("M")
    ends = index[np.append(month[1:] != month[:-1], False)]
    return ends[ends >= index[WARMUP_SESSIONS]]


def _bt_run(prices: pd.DataFrame, strategy: str) -> float:
    import bt

    select: list[Any] = [bt.algos.SelectAll()]
    if strategy == "momentum":
        select.append(bt.algos.SelectMomentum(n=TOP_N, lookback=pd.DateOffset(months=12)))
    algos = [
        bt.algos.RunMonthly(run_on_end_of_period=True),
        *select,
        bt.algos.WeighEqually(),
        bt.algos.Rebalance(),
    ]
    test = bt.Backtest(
        bt.Strategy(strategy, algos),
        prices.iloc[WARMUP_SESSIONS - 260 :].ffill(),
        progress_bar=False,
    )
    result = bt.run(test)
    return float(result[strategy].stats["cagr"])


def _vbt_run(prices: pd.DataFrame, strategy: str) -> float:
    import vectorbt as vbt

    close = prices.ffill()
    days = _rebalance_days(prices.index)
    if strategy == "momentum":
        past = close.shift(252)
        score = (close / past - 1.0).loc[days]
        ranks = score.rank(axis=1, ascending=False, method="first")
        weights = (ranks <= TOP_N).astype(float) / TOP_N
    else:
        listed = close.loc[days].notna().astype(float)
        weights = listed.div(listed.sum(axis=1), axis=0)
    size = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    size.loc[days] = weights.to_numpy()
    portfolio = vbt.Portfolio.from_orders(
        close.fillna(1.0).iloc[WARMUP_SESSIONS:],
        size.iloc[WARMUP_SESSIONS:],
        size_type="targetpercent",
        group_by=True,
        cash_sharing=True,
        call_seq="auto",
        fees=0.0005,
        freq="D",
    )
    return float(portfolio.total_return())


def _with_peers() -> bool:
    return os.environ.get("BENCH_ENGINE_PEERS", "1") != "0"


def bench_peers(prices: pd.DataFrame) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    if not _with_peers():
        print("peers skipped (BENCH_ENGINE_PEERS=0)")
        return records
    for engine, run in (("bt", _bt_run), ("vectorbt", _vbt_run)):
        try:
            __import__(engine)
        except ImportError:
            print(f"{engine} not installed: skipped (uv sync --group bench)")
            continue
        for strategy in ("equal_weight", "momentum"):
            repeats = 1 if engine == "bt" and prices.shape[1] > 50 else 3
            median_ms, _ = _time(lambda run=run, strategy=strategy: run(prices, strategy), repeats)
            records.append(
                {
                    "engine": engine,
                    "strategy": strategy,
                    "n_assets": prices.shape[1],
                    "n_days": len(prices),
                    "median_ms": round(median_ms, 3),
                }
            )
            print(
                f"{engine:8s} {strategy:22s} {prices.shape[1]:4d}x{len(prices):5d}  {median_ms:9.2f} ms"
            )
    return records


def _ms(records: list[dict[str, Any]], engine: str, n_assets: int, optimizers: bool) -> float:
    found = [
        r["median_ms"]
        for r in records
        if r["engine"] == engine
        and r["n_assets"] == n_assets
        and (r["strategy"] in OPTIMIZERS) == optimizers
    ]
    return max(found) if found else float("nan")


def _summary(records: list[dict[str, Any]]) -> str:
    """One line: per panel, our slowest non-optimizer vs the numpy floor (slowest of its two),
    our slowest optimizer, and bt's / vectorbt's slowest, all measured in this run."""
    parts = []
    for n_assets in sorted({r["n_assets"] for r in records if r["engine"] == "ours"}):
        ours = _ms(records, "ours", n_assets, False)
        floor = _ms(records, "numpy_floor", n_assets, False)
        part = (
            f"{n_assets} assets: ours {ours:.1f} ms vs numpy floor {floor:.1f} ms "
            f"({ours / floor:.1f}x), optimizers {_ms(records, 'ours', n_assets, True):.0f} ms"
        )
        for peer in ("bt", "vectorbt"):
            peer_ms = _ms(records, peer, n_assets, False)
            if peer_ms == peer_ms:  # not NaN: the peer ran
                part += f", {peer} {peer_ms:.0f} ms"
        parts.append(part)
    return f"engine (load {os.getloadavg()[0]:.1f}): " + "; ".join(parts)


def main() -> None:
    records: list[dict[str, Any]] = []
    for n_assets, years, seed in PANELS:
        prices = gbm_panel(n_assets, years, seed)
        records += bench_floor(prices)
        records += bench_ours(prices)
        records += bench_peers(prices)
    meta = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        # The host is shared: a load above the core count inflates every timing here.
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    for record in records:
        record.update(meta)
    if _with_peers():  # a quick run without the peers does not replace the full results
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(records, indent=1) + "\n")
    print(_summary(records))


if __name__ == "__main__":
    main()
