"""Price bars between frames and rows, the same on every database.

Writers take normalized frames apart into rows or arrays; readers build frames from rows or
column arrays, NULL as NaN (never zero). Column-wise throughout: one conversion per column is
far cheaper than a Python object per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from domain.model import BAR_COLUMNS, PRICE_FIELDS, empty_bars, normalize_bars

Record = tuple[Any, ...]
# The columns of a ``prices`` row, in the order records and COPY tuples hold them.
ROW_COLUMNS = ("asset_id", *BAR_COLUMNS)


def normalized(bars: pd.DataFrame) -> pd.DataFrame:
    """``normalize_bars``, without its costly date parsing when the frame is already in shape
    (providers and the ingest use case hand over normalized frames; parsing 1M dates again
    costs seconds). May return the caller's frame itself: the writers here only read it to
    build records and never keep it."""
    return normalized_with_days(bars)[0]


def normalized_with_days(bars: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``normalized`` bars and their dates as int64 days since 1970-01-01 (what the binary
    COPY is built from; computed once, as the shape check needs them anyway)."""
    if _has_bar_shape(bars):
        days = epoch_days(bars["date"].to_numpy())
        if bool((np.diff(days) > 0).all()):  # sorted, one row per date
            return bars, days
    frame = normalize_bars(bars)
    return frame, epoch_days(frame["date"].to_numpy())


def _has_bar_shape(bars: pd.DataFrame) -> bool:
    if bars.empty or not set(BAR_COLUMNS) <= set(bars.columns):
        return False
    if any(bars[c].dtype != np.float64 for c in PRICE_FIELDS):
        return False
    dates = bars["date"].to_numpy()
    # Exactly datetime.date (a datetime is a date subclass and would carry a time of day).
    return dates.dtype == object and all(type(d) is date for d in dates)


def epoch_days(dates: np.ndarray) -> np.ndarray:
    """datetime.date objects as int64 days since 1970-01-01. pandas converts them in C
    (~0.1 s per million); numpy's own object-to-datetime64 cast takes ~15x longer."""
    index = pd.DatetimeIndex(dates)
    return index.to_numpy().astype("datetime64[D]").astype(np.int64)


def bar_records(asset_id: int, bars: pd.DataFrame) -> list[Record]:
    """Rows of normalized bars as tuples in ``ROW_COLUMNS`` order, NaN as None (SQL NULL).

    Built column-wise: one ``tolist`` per column is far cheaper than iterating rows."""
    columns: list[Iterable[Any]] = [repeat(asset_id), bars["date"].tolist()]
    for name in PRICE_FIELDS:
        values = bars[name].to_numpy(dtype="float64")
        as_list = values.tolist()
        if np.isnan(values).any():
            as_list = [None if v != v else v for v in as_list]  # v != v only for NaN
        columns.append(as_list)
    return list(zip(*columns, strict=False))


def bars_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Bars in ``BAR_COLUMNS`` order (date ascending) as a frame, built from columns (NULL
    becomes NaN): the six price columns become ONE float block that pandas adopts without a
    copy, so reading a column later is a contiguous view."""
    if not rows:
        return empty_bars()
    dates, *values = zip(*rows, strict=True)
    block = np.array(values, dtype="float64")  # fields x rows; None -> NaN
    frame = pd.DataFrame(block.T, columns=list(PRICE_FIELDS), copy=False)
    frame.insert(0, "date", np.array(dates, dtype=object))
    return frame


def columns_frame(columns: Sequence[Sequence[Any] | None]) -> pd.DataFrame:
    """Bars from one array per column in ``BAR_COLUMNS`` order (NULL becomes NaN); None
    (an aggregate over no rows) gives empty bars."""
    dates, *values = columns
    if not dates:
        return empty_bars()
    block = np.array(values, dtype="float64")  # fields x rows; None -> NaN
    frame = pd.DataFrame(block.T, columns=list(PRICE_FIELDS), copy=False)
    frame.insert(0, "date", np.array(dates, dtype=object))
    return frame


def adj_close_panel(rows: Sequence[Sequence[Any]], ids: list[int]) -> pd.DataFrame:
    """(asset_id, date, adj_close) rows as a date x asset panel: every requested asset gets a
    column and a missing bar stays NaN, never zero."""
    asset_col, date_col, value_col = (
        (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    )
    long = pd.DataFrame(
        {
            "asset_id": np.array(asset_col, dtype="int64"),
            "date": pd.to_datetime(pd.Series(date_col, dtype=object)),
            "adj_close": np.array(value_col, dtype="float64"),
        }
    )
    panel = long.pivot(index="date", columns="asset_id", values="adj_close")
    panel = panel.reindex(columns=ids).astype("float64")
    panel.index = pd.DatetimeIndex(panel.index, name="date")
    panel.columns.name = None
    return panel.sort_index()
