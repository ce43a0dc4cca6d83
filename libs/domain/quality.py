"""Data-quality checks over a bar frame: pure, reporting issues, never fixing or dropping rows.

The ingestor records every issue on its run; what to do about a dirty vendor row is a human
decision, so nothing here alters the data.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

DEFAULT_MAX_DAILY_MOVE = 0.30  # |close-to-close return| beyond this needs a corporate action


class IssueKind(enum.StrEnum):
    NON_POSITIVE_PRICE = "non_positive_price"
    HIGH_BELOW_LOW = "high_below_low"
    HIGH_BELOW_OPEN_CLOSE = "high_below_open_close"
    LOW_ABOVE_OPEN_CLOSE = "low_above_open_close"
    ZERO_FILLED_HALT = "zero_filled_halt"
    LARGE_MOVE = "large_move"
    CALENDAR_GAP = "calendar_gap"
    OFF_CALENDAR = "off_calendar"


@dataclass(frozen=True, slots=True)
class QualityIssue:
    kind: IssueKind
    date: date
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "date": self.date.isoformat(), "detail": self.detail}


def check_bars(
    bars: pd.DataFrame,
    *,
    sessions: Sequence[date] | None = None,
    action_dates: Collection[date] = (),
    max_daily_move: float = DEFAULT_MAX_DAILY_MOVE,
) -> list[QualityIssue]:
    """Every issue in ``bars`` (BAR_COLUMNS), ordered by date then kind.

    - a zero-filled halt (O/H/L all 0, as KRX vendors write halts) is reported as such and
      not again as non-positive or inconsistent;
    - ``sessions``: the exchange's sessions over the frame's span; a session without a bar is
      a gap, a bar on a non-session is off-calendar (holidays are not gaps);
    - a move beyond ``max_daily_move`` is reported unless a split or dividend falls on that
      date (``action_dates``). It is measured on adj_close where present.
    """
    if bars.empty:
        return []
    frame = bars.sort_values("date").reset_index(drop=True)
    issues = [*_row_issues(frame), *_move_issues(frame, action_dates, max_daily_move)]
    if sessions is not None:
        issues.extend(_calendar_issues(frame, sessions))
    return sorted(issues, key=lambda i: (i.date, i.kind.value))


def _row_issues(frame: pd.DataFrame) -> list[QualityIssue]:
    o, h, lo, c = (frame[k].to_numpy(dtype="float64") for k in ("open", "high", "low", "close"))
    halt = (o == 0) & (h == 0) & (lo == 0) & (c > 0)
    prices = frame[["open", "high", "low", "close", "adj_close"]].to_numpy(dtype="float64")
    checks: list[tuple[IssueKind, np.ndarray, str]] = [
        (IssueKind.ZERO_FILLED_HALT, halt, "open/high/low are 0 (halt filled by the vendor)"),
        (IssueKind.NON_POSITIVE_PRICE, ~halt & (prices <= 0).any(axis=1), "a price <= 0"),
        (IssueKind.HIGH_BELOW_LOW, ~halt & (h < lo), "high < low"),
        (
            IssueKind.HIGH_BELOW_OPEN_CLOSE,
            ~halt & (h < np.maximum(o, c)),
            "high < max(open, close)",
        ),
        (IssueKind.LOW_ABOVE_OPEN_CLOSE, ~halt & (lo > np.minimum(o, c)), "low > min(open, close)"),
    ]
    dates: list[date] = list(frame["date"])
    issues: list[QualityIssue] = []
    for kind, mask, what in checks:
        for i in np.flatnonzero(mask):
            detail = f"{what}: o={o[i]:g} h={h[i]:g} l={lo[i]:g} c={c[i]:g}"
            issues.append(QualityIssue(kind, dates[i], detail))
    return issues


def _move_issues(
    frame: pd.DataFrame, action_dates: Collection[date], bound: float
) -> list[QualityIssue]:
    column = "adj_close" if frame["adj_close"].notna().any() else "close"
    price = frame[column].where(frame[column] > 0)
    returns = price / price.ffill().shift(1) - 1.0
    actions = set(action_dates)
    dates: list[date] = list(frame["date"])
    moves = returns.to_numpy(dtype="float64")
    issues: list[QualityIssue] = []
    for i in np.flatnonzero(np.abs(moves) > bound):
        if dates[i] not in actions:
            detail = f"{column} moved {moves[i]:+.1%} with no corporate action (bound {bound:.0%})"
            issues.append(QualityIssue(IssueKind.LARGE_MOVE, dates[i], detail))
    return issues


def _calendar_issues(frame: pd.DataFrame, sessions: Sequence[date]) -> list[QualityIssue]:
    have = set(frame["date"])
    first, last = frame["date"].iloc[0], frame["date"].iloc[-1]
    expected = {s for s in sessions if first <= s <= last}
    gaps = [
        QualityIssue(IssueKind.CALENDAR_GAP, s, "exchange session without a bar")
        for s in expected - have
    ]
    known = set(sessions)
    off = [
        QualityIssue(IssueKind.OFF_CALENDAR, d, "bar on a day the exchange was closed")
        for d in have
        if d not in known and sessions and sessions[0] <= d <= sessions[-1]
    ]
    return gaps + off
