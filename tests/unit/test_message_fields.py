"""Ingest command fields take only what the contract documents: a number or a word is refused,
not read as a date in 1970 or as a boolean.

An operator's `insight-invest send '{"type": "update_prices", "market": "US", "start": 0}'`
would otherwise re-download every price since 1970-01-01; the command is rejected (and a queued
one dead-lettered with the reason) instead.
"""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import InvalidMessage
from domain.messages import UpdateMacro, UpdatePrices, parse_ingest_command


@pytest.mark.parametrize("start", [0, "0", 1700000000, "20200102", "2020-1-2", "2020-01-02T00:00"])
@pytest.mark.parametrize(
    "body", [{"type": "update_prices", "market": "US"}, {"type": "update_macro"}]
)
def test_a_start_that_is_not_yyyy_mm_dd_is_an_invalid_message(
    body: dict[str, object], start: object
) -> None:
    with pytest.raises(InvalidMessage, match="YYYY-MM-DD"):
        parse_ingest_command({**body, "start": start})


def test_an_iso_start_is_a_date() -> None:
    prices = parse_ingest_command({"type": "update_prices", "market": "KR", "start": "2020-01-02"})
    macro = parse_ingest_command({"type": "update_macro", "start": "2019-12-31"})
    assert isinstance(prices, UpdatePrices) and prices.start == date(2020, 1, 2)
    assert isinstance(macro, UpdateMacro) and macro.start == date(2019, 12, 31)


@pytest.mark.parametrize("value", ["yes", "false", 1, 0])
@pytest.mark.parametrize("field", ["dry_run", "full_refresh"])
def test_a_flag_that_is_not_a_json_boolean_is_an_invalid_message(field: str, value: object) -> None:
    with pytest.raises(InvalidMessage, match=field):
        parse_ingest_command({"type": "update_prices", "market": "US", field: value})


def test_json_booleans_set_the_flags() -> None:
    command = parse_ingest_command(
        {"type": "update_prices", "market": "US", "dry_run": True, "full_refresh": True}
    )
    assert isinstance(command, UpdatePrices) and command.dry_run and command.full_refresh
