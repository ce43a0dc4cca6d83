"""JSON logs: one parseable object per line, extras as fields, secrets and URL queries removed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from adapters.worker import configure_json_logging, redact


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    configure_json_logging("INFO", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_message_log_is_one_json_object_with_its_fields(log_lines: io.StringIO) -> None:
    logging.getLogger("adapters.worker").info(
        "message %s", "acked", extra={"message_id": "m-1", "receive_count": 2, "duration_ms": 12.5}
    )

    [entry] = records(log_lines)
    assert entry["message"] == "message acked"
    assert entry["level"] == "INFO"
    assert (entry["message_id"], entry["receive_count"], entry["duration_ms"]) == ("m-1", 2, 12.5)
    assert str(entry["time"]).endswith("+00:00")


def test_secrets_and_url_queries_never_reach_the_log(log_lines: io.StringIO) -> None:
    url = "https://api.stlouisfed.org/fred/series/observations?series_id=CPI&api_key=abc123"
    log = logging.getLogger("adapters.providers")
    log.warning("fetch failed: %s", url, extra={"api_key": "abc123", "endpoint": url})
    try:
        raise RuntimeError("postgresql://app:hunter2@db:5432/prod refused")
    except RuntimeError:
        log.exception("connect failed")

    text = log_lines.getvalue()
    assert "abc123" not in text
    assert "hunter2" not in text
    first, second = records(log_lines)
    assert first["endpoint"] == "https://api.stlouisfed.org/fred/series/observations?***"
    assert "postgresql://***@db:5432/prod" in str(second["exception"])


def test_redact_leaves_plain_text_alone() -> None:
    assert redact("job 42 finished in 3 s") == "job 42 finished in 3 s"


def test_configuring_twice_keeps_one_json_handler(log_lines: io.StringIO) -> None:
    configure_json_logging("INFO", stream=log_lines)
    logging.getLogger("x").info("once")

    assert [r["message"] for r in records(log_lines)] == ["once"]
