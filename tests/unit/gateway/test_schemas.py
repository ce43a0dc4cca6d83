"""Response models encode as the API has always written them: ISO datetimes with their offset,
UUIDs (also a driver's UUID subclass) as strings, undefined numbers as null."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from domain.model import IngestionRun, RunStatus, RunTrigger
from gateway.schemas import RunOut, Series, encode_model


class DriverUUID(uuid.UUID):
    """Like asyncpg's UUID: a subclass orjson does not encode by itself."""


def test_a_run_encodes_with_iso_offsets_and_string_ids() -> None:
    started = datetime(2024, 6, 1, 12, 30, 5, 123456, tzinfo=UTC)
    run = IngestionRun(
        id=DriverUUID(int=1),
        command={"type": "update_prices"},
        command_type="update_prices",
        trigger=RunTrigger.MANUAL,
        status=RunStatus.RUNNING,
        started_at=started,
        heartbeat_at=started,
        parent_id=DriverUUID(int=2),
    )

    body = orjson.loads(encode_model(RunOut.of(run)))

    assert body["id"] == str(uuid.UUID(int=1)) and body["parent_id"] == str(uuid.UUID(int=2))
    assert body["started_at"] == started.isoformat() == "2024-06-01T12:30:05.123456+00:00"
    assert (body["trigger"], body["status"], body["finished_at"]) == ("manual", "running", None)


def test_undefined_series_values_are_null_never_zero() -> None:
    series = Series.of(
        {
            "dates": ["2024-01-02", "2024-01-03", "2024-01-04"],
            "values": [1.0, float("nan"), float("inf")],
        }
    )

    assert (
        encode_model(series)
        == b'{"dates":["2024-01-02","2024-01-03","2024-01-04"],"values":[1.0,null,null]}'
    )
