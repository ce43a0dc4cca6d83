"""`insight-invest send`: `--local` posts to the `make run` stack whatever the shell exports
(never to AWS), fails clearly when no stack listens, and every send says where it posted."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from adapters.sqs.queue import SqsConnection
from cli.main import main
from domain.messages import parse_ingest_command
from tests.support.processes import free_port

COMMAND = {"type": "update_prices", "market": "US", "tickers": ["SPY"]}


@pytest.fixture
def shell_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment as it was after the test, whatever `send` changed in this process."""
    saved = dict(os.environ)
    monkeypatch.setenv("INGEST_QUEUE_NAME", f"send-{uuid.uuid4().hex[:8]}")
    monkeypatch.delenv("SQS_ENDPOINT_URL", raising=False)
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)


def _create_queue(endpoint: str, name: str) -> None:
    async def create() -> None:
        async with SqsConnection(endpoint, "us-east-1") as connection:
            await connection.queue(name, create=True)

    asyncio.run(create())


def _received(endpoint: str, name: str) -> list[str]:
    async def receive() -> list[str]:
        async with SqsConnection(endpoint, "us-east-1") as connection:
            queue = await connection.queue(name)
            return [m.body for m in await queue.receive(10, wait_s=1, lease_s=30)]

    return asyncio.run(receive())


@pytest.mark.sqs
def test_send_local_posts_to_the_local_stack_not_to_the_shells_aws(sqs_endpoint, shell_env, capsys):
    queue = os.environ["INGEST_QUEUE_NAME"]
    _create_queue(sqs_endpoint, queue)
    port = urlsplit(sqs_endpoint).port
    shell_env.setenv("LOCAL_SQS_PORT", str(port))
    # A developer's shell: real-looking credentials and a profile this machine does not have
    # (botocore refuses to start with it: proof that --local does not use it).
    shell_env.setenv("AWS_PROFILE", "a-profile-this-machine-does-not-have")
    shell_env.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEYOFTHEUSER")
    shell_env.setenv("AWS_SECRET_ACCESS_KEY", "the-users-real-secret")

    assert main(["send", "--local", json.dumps(COMMAND)]) == 0

    out, err = capsys.readouterr()
    assert f"posted update_prices to queue {queue!r} on http://127.0.0.1:{port}" in err
    assert "AKIAREALKEYOFTHEUSER" not in out + err
    assert "the-users-real-secret" not in out + err
    (body,) = _received(sqs_endpoint, queue)
    message = parse_ingest_command(body)
    assert (message.type, message.market, message.tickers) == ("update_prices", "US", ["SPY"])


def test_send_local_without_a_stack_fails_clearly(shell_env, capsys):
    port = free_port()
    shell_env.setenv("LOCAL_SQS_PORT", str(port))
    assert main(["send", "--local", json.dumps(COMMAND)]) == 1
    err = capsys.readouterr().err
    assert f"nothing listens on http://127.0.0.1:{port}" in err
    assert "make run" in err


def test_send_local_names_a_bad_port_setting(shell_env, capsys):
    shell_env.setenv("LOCAL_SQS_PORT", "ninety")
    assert main(["send", "--local", json.dumps(COMMAND)]) == 1
    assert "LOCAL_SQS_PORT must be a port number" in capsys.readouterr().err


@pytest.mark.sqs
def test_send_says_which_endpoint_and_queue_it_posted_to(sqs_endpoint, shell_env, capsys):
    queue = os.environ["INGEST_QUEUE_NAME"]
    _create_queue(sqs_endpoint, queue)
    shell_env.setenv("SQS_ENDPOINT_URL", sqs_endpoint)
    assert main(["send", json.dumps(COMMAND)]) == 0
    out, err = capsys.readouterr()
    assert f"posted update_prices to queue {queue!r} on {sqs_endpoint}" in err
    assert out.strip() != ""  # the message id, alone on stdout for scripts


@pytest.mark.sqs
def test_send_to_a_queue_that_does_not_exist_is_a_clear_error(sqs_endpoint, shell_env, capsys):
    queue = os.environ["INGEST_QUEUE_NAME"]
    shell_env.setenv("SQS_ENDPOINT_URL", sqs_endpoint)
    assert main(["send", json.dumps(COMMAND)]) == 1
    err = capsys.readouterr().err
    assert f"could not post to queue {queue!r} on {sqs_endpoint}" in err
    assert "does not exist" in err


def test_send_with_an_aws_profile_that_does_not_exist_is_a_clear_error(shell_env, capsys):
    shell_env.setenv("AWS_PROFILE", f"no-such-profile-{uuid.uuid4().hex[:6]}")
    shell_env.setenv("AWS_CONFIG_FILE", os.devnull)
    assert main(["send", json.dumps(COMMAND)]) == 1
    err = capsys.readouterr().err
    assert "the AWS configuration cannot be used" in err
    assert "no-such-profile-" in err
    assert "Traceback" not in err
