"""The log scan that guards every suite run can find a leak."""

from __future__ import annotations

from tests.support.log_scan import find_leaks


def test_a_dsn_a_known_key_and_a_password_are_each_found(tmp_path):
    log = tmp_path / "gateway.txt"
    log.write_text(
        '{"message": "ok"}\n'
        '{"message": "connecting", "url": "postgresql+asyncpg://u:pw@db/x"}\n'
        '{"message": "auth", "key": "s3cr3t-key"}\n'
        '{"message": "password=hunter2"}\n'
    )

    leaks = find_leaks([log], ["s3cr3t-key"])

    assert [leak.split(":")[1] for leak in leaks] == ["2", "3", "4"]


def test_clean_structured_logs_pass(tmp_path):
    log = tmp_path / "worker.txt"
    log.write_text('{"message": "message acked", "queue": "ingest", "duration_ms": 3.1}\n')

    assert find_leaks([log], ["s3cr3t-key"]) == []
