"""Quality checks on the dirty KOSDAQ file (real vendor data) and on small crafted frames."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from adapters.calendars import ExchangeCalendarsAdapter
from domain.model import Market
from domain.quality import IssueKind, check_bars
from tests.support.shared_data import shared_data_dir


@pytest.fixture(scope="module")
def kosdaq() -> dict[str, pd.DataFrame]:
    frame = pd.read_csv(
        shared_data_dir() / "kr" / "kr_kosdaq_daily_fdr_pqmsoft1.csv", dtype={"code": str}
    )
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["adj_close"] = frame["close"]
    return {code: rows.reset_index(drop=True) for code, rows in frame.groupby("code")}


def _kinds(issues, kind: IssueKind) -> list[date]:
    return [i.date for i in issues if i.kind is kind]


def _check(bars: pd.DataFrame):
    sessions = ExchangeCalendarsAdapter().sessions(
        Market.KR, bars["date"].min(), bars["date"].max()
    )
    return check_bars(bars, sessions=sessions)


@pytest.mark.shared_data
def test_ecopro_rounding_artifacts_and_halts_are_all_reported(kosdaq) -> None:
    issues = _check(kosdaq["086520"])

    assert len(_kinds(issues, IssueKind.HIGH_BELOW_OPEN_CLOSE)) == 179
    assert len(_kinds(issues, IssueKind.ZERO_FILLED_HALT)) == 19
    # A halt is reported once, as a halt, not also as a non-positive or inconsistent bar.
    assert not _kinds(issues, IssueKind.NON_POSITIVE_PRICE)
    assert not _kinds(issues, IssueKind.HIGH_BELOW_LOW)


@pytest.mark.shared_data
def test_pearl_abyss_halt_days_are_found(kosdaq) -> None:
    issues = _check(kosdaq["263750"])

    assert _kinds(issues, IssueKind.ZERO_FILLED_HALT) == [
        date(2021, 4, 13),
        date(2021, 4, 14),
        date(2021, 4, 15),
    ]


@pytest.mark.shared_data
def test_clean_listing_has_no_issue_and_korean_holidays_are_not_gaps(kosdaq) -> None:
    assert _check(kosdaq["247540"]) == []


@pytest.mark.shared_data
def test_checks_never_modify_the_input(kosdaq) -> None:
    bars = kosdaq["086520"]
    before = bars.copy()
    _check(bars)
    pd.testing.assert_frame_equal(bars, before)


def _bars(rows: list[tuple[str, float, float, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close"])
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    frame["adj_close"] = frame["close"]
    frame["volume"] = 1000.0
    return frame


def test_missing_session_is_a_gap_but_a_holiday_is_not() -> None:
    # 2021-07-05 is a US holiday (Independence Day observed); 2021-07-07 is missing.
    bars = _bars(
        [
            ("2021-07-02", 10, 11, 9, 10),
            ("2021-07-06", 10, 11, 9, 10),
            ("2021-07-08", 10, 11, 9, 10),
        ]
    )
    sessions = ExchangeCalendarsAdapter().sessions(Market.US, date(2021, 7, 1), date(2021, 7, 9))
    issues = check_bars(bars, sessions=sessions)

    assert [(i.kind, i.date) for i in issues] == [(IssueKind.CALENDAR_GAP, date(2021, 7, 7))]


def test_large_move_is_flagged_unless_a_corporate_action_explains_it() -> None:
    bars = _bars([("2020-08-28", 499, 505, 495, 500), ("2020-08-31", 127, 131, 126, 129)])

    flagged = check_bars(bars, max_daily_move=0.3)
    explained = check_bars(bars, max_daily_move=0.3, action_dates={date(2020, 8, 31)})

    assert [(i.kind, i.date) for i in flagged] == [(IssueKind.LARGE_MOVE, date(2020, 8, 31))]
    assert explained == []


def test_non_positive_and_crossed_bars_are_reported() -> None:
    bars = _bars([("2021-01-04", 10, 9, 11, 10), ("2021-01-05", 10, 11, 9, -1)])
    kinds = {(i.kind, i.date) for i in check_bars(bars)}

    assert (IssueKind.HIGH_BELOW_LOW, date(2021, 1, 4)) in kinds
    assert (IssueKind.NON_POSITIVE_PRICE, date(2021, 1, 5)) in kinds
