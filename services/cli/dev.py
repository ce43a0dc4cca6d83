"""``make run``: the whole system offline on its embedded defaults.

A SQLite file (or DATABASE_URL), a local SQS endpoint on 127.0.0.1, the gateway, the ingestor
and the backtester as separate processes; migrations, the seed universe and the three scheduled
update commands posted exactly as EventBridge would. Ctrl-C stops everything cleanly.

Each stack keeps its SQLite file and logs in its own state directory (``state_dir``), so two
stacks started side by side with different ports never share a database.
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
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cli.schedules import scheduled_bodies

DEFAULT_VAR_DIR = Path("var")
DEFAULT_GATEWAY_PORT = 8000
DEFAULT_LOCAL_SQS_PORT = 9324
LOCAL_AWS = {  # dummy credentials for the loopback endpoint only
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Whatever would make botocore prefer the developer's own AWS identity over LOCAL_AWS.
AWS_IDENTITY_OVERRIDES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")
SAMPLE_COMMAND = {"type": "update_prices", "market": "US", "tickers": ["SPY"]}


class SettingError(ValueError):
    """A `make run` setting (port, provider) that cannot work, with the message to show."""


def port_setting(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        port = int(raw)
    except ValueError:
        raise SettingError(f"{name} must be a port number, not {raw!r}") from None
    if not 0 < port < 65536:
        raise SettingError(f"{name} must be a port number (1-65535), not {port}")
    return port


def local_sqs_port(env: Mapping[str, str]) -> int:
    return port_setting(env, "LOCAL_SQS_PORT", DEFAULT_LOCAL_SQS_PORT)


def state_dir(env: Mapping[str, str]) -> Path:
    """Where a stack keeps its SQLite file and logs: ``INSIGHT_VAR_DIR`` when set; otherwise
    ``var/`` for the stack on the default gateway port and ``var/port-<GATEWAY_PORT>/`` for any
    other, so a second stack started with its own GATEWAY_PORT gets its own database."""
    if explicit := env.get("INSIGHT_VAR_DIR"):
        return Path(explicit)
    port = port_setting(env, "GATEWAY_PORT", DEFAULT_GATEWAY_PORT)
    return DEFAULT_VAR_DIR if port == DEFAULT_GATEWAY_PORT else DEFAULT_VAR_DIR / f"port-{port}"


def stack_environment() -> dict[str, str]:
    """The environment of every process of the stack: the caller's, with this stack's state
    directory and the loopback SQS endpoint under dummy credentials (so no process of the stack
    can reach the caller's AWS account)."""
    env = dict(os.environ)
    sqs_port = local_sqs_port(env)
    var = state_dir(env)
    env["INSIGHT_VAR_DIR"] = str(var)
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{var / 'insight-invest.db'}")
    env["SQS_ENDPOINT_URL"] = f"http://127.0.0.1:{sqs_port}"
    env["SQS_CREATE_QUEUES"] = "true"
    env.setdefault("GATEWAY_PORT", str(DEFAULT_GATEWAY_PORT))
    env.setdefault("GATEWAY_HOST", "127.0.0.1")
    env.setdefault("MARKET_DATA_PROVIDER", "sample")
    env.setdefault("WORKER_WAIT_SECONDS", "2")
    env["LOCAL_SQS_PORT"] = str(sqs_port)
    env.update(LOCAL_AWS)
    for key in AWS_IDENTITY_OVERRIDES:
        env.pop(key, None)
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


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, name: str, *args: str) -> None:
        log = open(self.log(name), "ab")  # noqa: SIM115 (lives as long as the child)
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
    try:
        env = stack_environment()
        os.environ.update(env)  # this process posts the scheduled commands itself
        ingestion = describe_ingestion()
    except (SettingError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        print(f"insight-invest dev: {exc}", file=sys.stderr)
        return 2
    var = Path(env["INSIGHT_VAR_DIR"])
    sqs_port = int(env["LOCAL_SQS_PORT"])
    gateway_port = int(env["GATEWAY_PORT"])
    for port, what in ((sqs_port, "LOCAL_SQS_PORT"), (gateway_port, "GATEWAY_PORT")):
        if port_in_use(port):
            print(f"port {port} is taken: set {what} to a free port", file=sys.stderr)
            return 1
    stack = Stack(env, var / "logs")
    interrupted = False
    previous = {
        signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        print(f"• state (SQLite file, logs) in {var}/", file=sys.stderr)
        print(f"• local SQS endpoint on 127.0.0.1:{sqs_port}", file=sys.stderr)
        stack.start("local-sqs", "local-sqs", "--port", str(sqs_port))
        if not _wait_for_port(sqs_port, 30):
            print(
                f"the local SQS endpoint did not start (see {stack.log('local-sqs')})",
                file=sys.stderr,
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
            print(f"the gateway did not become ready (see {stack.log('gateway')})", file=sys.stderr)
            return 1
        asyncio.run(_post_scheduled_commands())
        print(ready_message(base, env, ingestion), flush=True)
        while (gone := stack.exited()) is None:
            time.sleep(1)
        print(f"{gone} exited unexpectedly (see {stack.log(gone)}); stopping", file=sys.stderr)
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


def describe_ingestion() -> str:
    """What the scheduled commands ingest from, in the words of the ready message (read from
    the same settings the ingestor reads, so it names the provider that actually runs)."""
    from adapters.settings import ProviderSettings

    providers = ProviderSettings()
    directory = providers.market_data_dir
    sample = 'the offline sample provider (synthetic data, marked "synthetic": true in the API)'
    market = {
        "sample": sample,
        "csv": f"the csv provider ({directory})",
        "yfinance": "Yahoo Finance (yfinance)",
    }[providers.market_data_provider]
    macro = {
        "sample": sample,
        "csv": f"the csv provider ({directory})",
        "fred": "FRED",
    }[providers.resolved_macro_provider()]
    if market == macro:
        return f"Ingestion from {market}"
    return f"Ingestion of prices from {market} and of macro series from {macro}"


def _cli_command() -> str:
    """How the user's shell reaches this CLI: the venv's script, relative to the current
    directory when it is below it (``.venv/bin/insight-invest`` from the repository root)."""
    script = Path(sys.executable).parent / "insight-invest"
    if not script.exists():
        return "insight-invest"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def send_command(env: Mapping[str, str]) -> str:
    """The copy-paste command that posts to this stack's ingest queue (never to AWS)."""
    port = local_sqs_port(env)
    prefix = "" if port == DEFAULT_LOCAL_SQS_PORT else f"LOCAL_SQS_PORT={port} "
    return f"{prefix}{_cli_command()} send --local '{json.dumps(SAMPLE_COMMAND)}'"


def ready_message(base: str, env: Mapping[str, str], ingestion: str) -> str:
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
    logs = Path(env["INSIGHT_VAR_DIR"]) / "logs"
    return f"""
Insight-Invest is ready at {base}  (API docs: {base}/docs; logs in {logs}/; Ctrl-C stops)
{ingestion} runs now (GET {base}/v1/ingestion/runs). Then try:

  curl -s -X POST {base}/v1/backtests -H 'content-type: application/json' \\
       -d '{body}'
  # → {{"id": "<job id>", "status": "queued"}}
  curl -s '{base}/v1/backtests/<job id>?wait=10'
  curl -s {base}/v1/backtests/<job id>/result

Post an update command to this stack's ingest queue (as EventBridge would; never to AWS):

  {send_command(env)}
"""
