"""``make run``: the whole system offline on its embedded defaults.

A SQLite file (or DATABASE_URL), a local SQS endpoint on 127.0.0.1, the gateway, the ingestor
and the backtester as separate processes; migrations, the seed universe and the three scheduled
update commands posted exactly as EventBridge would. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from cli.schedules import scheduled_bodies

VAR = Path("var")
_LOCAL_AWS = {  # dummy credentials for the loopback endpoint only
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    sqs_port = int(env.get("LOCAL_SQS_PORT", "9324"))
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{VAR / 'insight-invest.db'}")
    env["SQS_ENDPOINT_URL"] = f"http://127.0.0.1:{sqs_port}"
    env["SQS_CREATE_QUEUES"] = "true"
    env.setdefault("GATEWAY_PORT", "8000")
    env.setdefault("GATEWAY_HOST", "127.0.0.1")
    env.setdefault("MARKET_DATA_PROVIDER", "sample")
    env.setdefault("WORKER_WAIT_SECONDS", "2")
    env["LOCAL_SQS_PORT"] = str(sqs_port)
    for key, value in _LOCAL_AWS.items():
        env[key] = value
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def _wait_for_port(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _wait_ready(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        (VAR / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *args: str) -> None:
        log = open(VAR / "logs" / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the child)
        # Own session: a terminal's Ctrl-C reaches only this orchestrator, which stops the
        # services in order (so the queue outlives the workers draining into it).
        self.processes[name] = subprocess.Popen(
            _cli(*args), env=self.env, stdout=log, stderr=log, start_new_session=True
        )

    def run_once(self, *args: str) -> None:
        subprocess.run(_cli(*args), env=self.env, check=True)

    def stop(self) -> None:
        """Stop the services first (they release in-flight messages to the queue), then the
        local SQS endpoint they drain into."""
        names = list(self.processes)
        services = [n for n in names if n != "local-sqs"]
        for group in (services, [n for n in names if n == "local-sqs"]):
            for name in group:
                if self.processes[name].poll() is None:
                    self.processes[name].send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 40
            for name in group:
                try:
                    self.processes[name].wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    print(f"  {name} did not stop in time; killing it", file=sys.stderr)
                    self.processes[name].kill()

    def exited(self) -> str | None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run_dev_stack() -> int:
    env = _environment()
    os.environ.update(env)  # this process posts the scheduled commands itself
    VAR.mkdir(exist_ok=True)
    sqs_port = int(env["LOCAL_SQS_PORT"])
    gateway_port = int(env["GATEWAY_PORT"])
    for port, what in ((sqs_port, "LOCAL_SQS_PORT"), (gateway_port, "GATEWAY_PORT")):
        if not _port_free(port):
            print(f"port {port} is taken: set {what} to a free port", file=sys.stderr)
            return 1
    stack = Stack(env)
    interrupted = False
    previous = {
        signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        print(f"• local SQS endpoint on 127.0.0.1:{sqs_port}", file=sys.stderr)
        stack.start("local-sqs", "local-sqs", "--port", str(sqs_port))
        if not _wait_for_port(sqs_port, 30):
            print(
                "the local SQS endpoint did not start (see var/logs/local-sqs.log)", file=sys.stderr
            )
            return 1
        print("• migrating and seeding the database", file=sys.stderr)
        stack.run_once("migrate")
        stack.run_once("seed")
        for name in ("ingestor", "backtester", "gateway"):
            stack.start(name, name)
        base = f"http://127.0.0.1:{gateway_port}"
        print("• starting the ingestor, the backtester and the gateway", file=sys.stderr)
        if not _wait_ready(f"{base}/health/ready", 240):
            print("the gateway did not become ready (see var/logs/gateway.log)", file=sys.stderr)
            return 1
        asyncio.run(_post_scheduled_commands())
        _print_welcome(base)
        while (gone := stack.exited()) is None:
            time.sleep(1)
        print(f"{gone} exited unexpectedly (see var/logs/{gone}.log); stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        interrupted = True
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        if interrupted:
            print("\nstopping…", file=sys.stderr)
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if interrupted:
            print("stopped.", file=sys.stderr)


async def _post_scheduled_commands() -> None:
    """Post the three scheduled update commands to the ingest queue, as EventBridge does."""
    from adapters.factories import open_queues
    from adapters.settings import QueueSettings
    from domain.messages import encode_message, parse_ingest_command

    settings = QueueSettings()
    async with open_queues(settings, settings.ingest_queue_name) as queues:
        for body in scheduled_bodies(time=datetime.now(UTC)):
            await queues[settings.ingest_queue_name].send(
                encode_message(parse_ingest_command(body))
            )
            print(f"• posted {json.dumps(body)}", file=sys.stderr)


def _print_welcome(base: str) -> None:
    body = json.dumps(
        {
            "name": "GEM",
            "strategy": {"type": "dual_momentum", "params": {"top_n": 1, "lookback_months": 12}},
            "universe": ["SPY", "EFA", "IEF"],
            "start": "2010-01-01",
            "end": "2024-12-31",
            "rebalance": "M",
            "initial_capital": 10000,
            "fee_bps": 5,
            "benchmark": "SPY",
        }
    )
    print(
        f"""
Insight-Invest is ready at {base}  (API docs: {base}/docs; logs in var/logs/; Ctrl-C stops)
Ingestion of the sample data runs now (GET {base}/v1/ingestion/runs). Then try:

  curl -s -X POST {base}/v1/backtests -H 'content-type: application/json' \\
       -d '{body}'
  # → {{"id": "<job id>", "status": "queued"}}
  curl -s '{base}/v1/backtests/<job id>?wait=10'
  curl -s {base}/v1/backtests/<job id>/result
""",
        flush=True,
    )
