"""The engine's fast paths give the answers of the plain computations they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.backtest.engine import decision_sessions
from domain.backtest.metrics import skew_and_kurtosis
from domain.backtest.panel import SessionIndex, asof, repair_columns
from domain.backtest.simulate import holdings_value
from domain.backtest.strategies import SignalContext
from domain.backtest.strategies.kernels import first_n_stable, window_sums

SECONDS_1900_TO_2100 = (-2_208_988_800, 4_102_444_800)


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(4, 400),
    scale=st.sampled_from([1e-4, 0.01, 1.0]),
    heavy_tails=st.booleans(),
)
def test_skew_and_kurtosis_by_products_are_scipy_bias_corrected_moments(
    seed: int, n: int, scale: float, heavy_tails: bool
) -> None:
    rng = np.random.default_rng(seed)
    draws = rng.standard_t(3, n) if heavy_tails else rng.normal(0.0, 1.0, n)
    x = 0.0003 + scale * draws

    skew, kurt = skew_and_kurtosis(x)

    assert skew == pytest.approx(scipy.stats.skew(x, bias=False), rel=1e-9, abs=1e-12)
    assert kurt == pytest.approx(scipy.stats.kurtosis(x, bias=False), rel=1e-9, abs=1e-12)


def test_skew_and_kurtosis_are_undefined_below_four_returns_or_without_variance() -> None:
    assert all(np.isnan(v) for v in skew_and_kurtosis(np.array([0.01, -0.02, 0.03])))
    assert all(np.isnan(v) for v in skew_and_kurtosis(np.full(10, 0.25)))


def _reference_repair(prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pandas' forward fill after turning non-positive closes into holes; the head before the
    first close gets that close, a column that never trades gets 1.0."""
    frame = pd.DataFrame(np.where(prices > 0, prices, np.nan))
    first = np.array(
        [frame[c].first_valid_index() if frame[c].notna().any() else len(frame) for c in frame]
    )
    filled = frame.ffill().bfill().fillna(1.0).to_numpy()
    return filled, first


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_days=st.integers(1, 60), n_assets=st.integers(1, 6))
def test_repairing_only_the_columns_with_gaps_equals_a_forward_fill_of_all(
    seed: int, n_days: int, n_assets: int
) -> None:
    rng = np.random.default_rng(seed)
    prices = rng.uniform(1.0, 100.0, (n_days, n_assets))
    kind = rng.integers(0, 5, n_assets)  # clean, late, holes, non-positive, never
    for j, k in enumerate(kind.tolist()):
        if k == 1:
            prices[: rng.integers(0, n_days + 1), j] = np.nan
        elif k == 2:
            prices[rng.random(n_days) < 0.3, j] = np.nan
        elif k == 3:
            prices[rng.random(n_days) < 0.2, j] = rng.choice([0.0, -1.0])
        elif k == 4:
            prices[:, j] = np.nan
    expected, expected_first = _reference_repair(prices)
    columns = np.flatnonzero(~(prices > 0).all(axis=0))

    first = repair_columns(prices, columns)

    np.testing.assert_array_equal(prices, expected)
    np.testing.assert_array_equal(first, expected_first)


@settings(max_examples=40, deadline=None)
@given(
    start=st.dates(min_value=pd.Timestamp("1950-01-01").date()),
    n_days=st.integers(2, 900),
    rebalance=st.sampled_from(["M", "Q", "A"]),
)
def test_decision_sessions_are_the_last_session_of_each_calendar_period(
    start: object, n_days: int, rebalance: str
) -> None:
    dates = pd.bdate_range(start, periods=n_days)
    months = {"M": 1, "Q": 3, "A": 12}[rebalance]
    period = (dates.year * 12 + dates.month - 1) // months
    ends = [t for t in range(1, n_days - 1) if period[t] != period[t + 1]]

    got = decision_sessions(dates, 0, rebalance)

    assert got.tolist() == [0, *ends]


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_days=st.integers(2, 400),
    n_assets=st.integers(1, 300),
    n_windows=st.integers(1, 30),
    spoil=st.booleans(),
)
def test_window_sums_equal_plain_sums_over_each_window(
    seed: int, n_days: int, n_assets: int, n_windows: int, spoil: bool
) -> None:
    rng = np.random.default_rng(seed)
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (n_days, n_assets)), axis=0))
    if spoil:  # a NaN close: its returns are NaN, which count as 0
        prices[rng.integers(0, n_days), rng.integers(0, n_assets)] = np.nan
    hi = np.sort(rng.integers(0, n_days, n_windows))
    lo = np.maximum(hi - rng.integers(0, n_days, n_windows), 0)  # overlapping, some empty

    sum1, sum2 = window_sums(prices, lo, hi)

    with np.errstate(invalid="ignore", over="ignore"):
        daily = np.nan_to_num(prices[1:] / prices[:-1] - 1.0)
        for k in range(n_windows):
            window = daily[lo[k] : hi[k]]
            np.testing.assert_allclose(sum1[k], window.sum(axis=0), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(sum2[k], (window**2).sum(axis=0), rtol=1e-12, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 12),
    width=st.integers(1, 30),
    n=st.integers(1, 35),
    levels=st.integers(1, 6),
    nan=st.booleans(),
)
def test_first_n_by_partition_is_the_head_of_a_stable_sort(
    seed: int, rows: int, width: int, n: int, levels: int, nan: bool
) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct levels: ties everywhere, also at the cut; inf for ineligible entries.
    keyed = rng.integers(0, levels, (rows, width)).astype(float)
    keyed[rng.random((rows, width)) < 0.2] = np.inf
    if nan and rows:
        keyed[rng.integers(0, rows), rng.integers(0, width)] = np.nan
    expected = np.zeros((rows, width), dtype=bool)
    head = np.argsort(keyed, axis=1, kind="stable")[:, :n]
    expected[np.arange(rows)[:, None], head] = True

    np.testing.assert_array_equal(first_n_stable(keyed, n), expected)


@settings(max_examples=60, deadline=None)
@given(
    seconds=st.lists(st.integers(*SECONDS_1900_TO_2100), min_size=1, max_size=300, unique=True),
    months=st.integers(1, 72),
    unit=st.sampled_from(["s", "us", "ns"]),
)
def test_session_index_months_back_is_a_search_for_the_date_offset(
    seconds: list[int], months: int, unit: str
) -> None:
    dates = pd.DatetimeIndex(pd.to_datetime(sorted(seconds), unit="s")).as_unit(unit)
    sessions = np.arange(len(dates))
    expected = dates.searchsorted(dates - pd.DateOffset(months=months), side="right") - 1

    index = SessionIndex.of(dates)

    assert index is not None
    months_since_1970 = dates.values.astype("datetime64[M]").astype(np.int64)
    np.testing.assert_array_equal(index.month, months_since_1970)
    got = index.months_back(sessions, months)
    assert got is not None
    np.testing.assert_array_equal(got, expected)
    per_session = index.months_back(sessions, np.full(len(sessions), months))
    assert per_session is not None
    np.testing.assert_array_equal(per_session, expected)


@settings(max_examples=40, deadline=None)
@given(
    seconds=st.lists(st.integers(*SECONDS_1900_TO_2100), min_size=1, max_size=100, unique=True),
    months=st.integers(1, 240),  # past the session index's reach too: the pandas fallback
)
def test_signal_context_months_back_is_the_same_with_or_without_the_session_index(
    seconds: list[int], months: int
) -> None:
    dates = pd.DatetimeIndex(pd.to_datetime(sorted(seconds), unit="s"))
    sessions = np.arange(len(dates))
    fields = {
        "dates": dates,
        "labels": ("A",),
        "prices": np.ones((len(dates), 1)),
        "first_valid": np.zeros(1, dtype=np.intp),
        "cash_growth": np.ones(len(dates)),
        "decisions": sessions,
    }
    indexed = SignalContext(**fields, session_index=SessionIndex.of(dates))
    plain = SignalContext(**fields)
    expected = dates.searchsorted(dates - pd.DateOffset(months=months), side="right") - 1

    np.testing.assert_array_equal(indexed.months_back(months), expected)
    np.testing.assert_array_equal(plain.months_back(months), expected)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_assets=st.sampled_from([1, 3, 32, 33, 60]),  # both sides of the gather / mat-vec switch
    n_days=st.integers(5, 200),
)
def test_holdings_value_is_the_plain_sum_of_units_times_prices(
    seed: int, n_assets: int, n_days: int
) -> None:
    rng = np.random.default_rng(seed)
    prices = rng.uniform(10.0, 100.0, (n_days, n_assets))
    start = int(rng.integers(0, n_days - 2))
    exe = np.unique(rng.integers(start, n_days - 1, int(rng.integers(1, 8))))
    units = rng.uniform(0.0, 0.1, (len(exe), n_assets))
    rows = np.arange(exe[0] + 1, n_days)
    k_of = np.searchsorted(exe, rows, side="left") - 1

    got = holdings_value(prices, units, exe, rows, k_of)

    expected = [
        sum(prices[t, j] * units[k, j] for j in range(n_assets))
        for t, k in zip(rows, k_of, strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_days=st.integers(1, 60),
    holes=st.booleans(),
    same_dates=st.booleans(),
)
def test_as_of_values_are_pandas_as_of_whether_or_not_already_on_the_dates(
    seed: int, n_days: int, holes: bool, same_dates: bool
) -> None:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2020-01-01", periods=n_days)
    series = pd.Series(rng.uniform(1.0, 2.0, n_days), index=index)
    if holes:
        series[rng.random(n_days) < 0.3] = np.nan
    dates = index if same_dates else pd.bdate_range("2019-12-25", periods=n_days + 5)

    expected = series.asof(dates).to_numpy()

    np.testing.assert_array_equal(asof(series, dates), expected)
