"""What `make run` derives from its settings: each stack's own state directory, loopback SQS
under dummy credentials, and a ready message that names the provider in use and a working
`send` command for this stack."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from cli.dev import (
    SettingError,
    describe_ingestion,
    ready_message,
    stack_environment,
    state_dir,
)
from cli.main import build_parser
from domain.messages import parse_ingest_command


def test_the_default_stack_keeps_its_state_in_var():
    assert state_dir({}) == Path("var")
    assert state_dir({"GATEWAY_PORT": "8000"}) == Path("var")


def test_stacks_on_different_gateway_ports_get_different_state_dirs():
    first = state_dir({"GATEWAY_PORT": "8001"})
    second = state_dir({"GATEWAY_PORT": "8002"})
    assert len({first, second, state_dir({})}) == 3


def test_insight_var_dir_chooses_the_state_dir(tmp_path):
    assert state_dir({"INSIGHT_VAR_DIR": str(tmp_path), "GATEWAY_PORT": "8001"}) == tmp_path


def test_a_port_that_is_not_a_number_is_named_in_the_error():
    with pytest.raises(SettingError, match="GATEWAY_PORT"):
        state_dir({"GATEWAY_PORT": "eighty"})


def test_the_sqlite_file_of_a_second_stack_is_its_own(monkeypatch):
    for name in ("DATABASE_URL", "INSIGHT_VAR_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_PORT", "8001")
    env = stack_environment()
    assert env["DATABASE_URL"] == "sqlite+aiosqlite:///var/port-8001/insight-invest.db"
    assert env["INSIGHT_VAR_DIR"] == "var/port-8001"


def test_database_url_still_wins(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/mine")
    assert stack_environment()["DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5432/mine"


def test_the_stack_never_carries_the_callers_aws_identity(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-session-token")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEYOFTHEUSER")
    monkeypatch.setenv("SQS_ENDPOINT_URL", "https://sqs.us-east-1.amazonaws.com")
    monkeypatch.setenv("LOCAL_SQS_PORT", "9400")
    env = stack_environment()
    assert "AWS_PROFILE" not in env
    assert "AWS_SESSION_TOKEN" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "local"
    assert env["SQS_ENDPOINT_URL"] == "http://127.0.0.1:9400"


@pytest.fixture
def no_provider_settings(monkeypatch):
    for name in ("MARKET_DATA_PROVIDER", "MARKET_DATA_DIR", "MACRO_DATA_PROVIDER", "FRED_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_ready_message_names_the_sample_provider(no_provider_settings):
    assert describe_ingestion() == (
        "Ingestion from the offline sample provider "
        '(synthetic data, marked "synthetic": true in the API)'
    )


def test_the_ready_message_names_the_csv_provider_and_its_directory(no_provider_settings, tmp_path):
    no_provider_settings.setenv("MARKET_DATA_PROVIDER", "csv")
    no_provider_settings.setenv("MARKET_DATA_DIR", str(tmp_path))
    assert describe_ingestion() == f"Ingestion from the csv provider ({tmp_path})"


def test_the_ready_message_names_yahoo_and_fred(no_provider_settings):
    no_provider_settings.setenv("MARKET_DATA_PROVIDER", "yfinance")
    no_provider_settings.setenv("FRED_API_KEY", "not-a-real-key")
    assert describe_ingestion() == (
        "Ingestion of prices from Yahoo Finance (yfinance) and of macro series from FRED"
    )


def test_a_provider_setting_that_cannot_work_is_refused(no_provider_settings):
    no_provider_settings.setenv("MARKET_DATA_PROVIDER", "csv")
    with pytest.raises(ValueError, match="MARKET_DATA_DIR"):
        describe_ingestion()


def _send_line(message: str) -> list[str]:
    (line,) = [line for line in message.splitlines() if " send " in line]
    return shlex.split(line)


def test_the_ready_message_gives_a_send_command_this_cli_accepts_for_this_stack():
    env = {"INSIGHT_VAR_DIR": "var/port-8001", "LOCAL_SQS_PORT": "9400"}
    words = _send_line(ready_message("http://127.0.0.1:8001", env, "Ingestion from X"))
    assert words[0] == "LOCAL_SQS_PORT=9400"
    args = build_parser().parse_args(words[2:])
    assert (args.command, args.local) == ("send", True)
    assert parse_ingest_command(json.loads(args.body)).type == "update_prices"


def test_on_the_default_port_the_send_command_needs_no_setting():
    words = _send_line(ready_message("http://127.0.0.1:8000", {"INSIGHT_VAR_DIR": "var"}, "x"))
    assert words[1:3] == ["send", "--local"]
    assert "=" not in words[0]


def test_the_ready_message_points_at_this_stacks_logs():
    message = ready_message("http://127.0.0.1:8001", {"INSIGHT_VAR_DIR": "var/port-8001"}, "x")
    assert "logs in var/port-8001/logs/" in message
