"""What every fault scenario shares: a fresh database per scenario module, the services as real
processes (``ChaosStack``), job submission, a clean-run reference for prices, and the
delivery invariants checked after every fault (``ChaosStack.check_invariants``)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.support.processes import ServiceStack

T = TypeVar("T")

TICKERS = ("SPY", "QQQ", "EFA", "TLT", "IEF", "GLD")
TERMINAL = {"succeeded", "failed", "cancelled"}
# Every DSN and key the suite hands to a service process, for the log scan at the end.
SECRETS: set[str] = set()
# Short leases and a fast sweeper so that recovery happens within a test's patience; the
# relations between them are the production ones (heartbeat = lease/3, stale = 2 leases).
FAST_ENV = {
    "WORKER_LEASE_SECONDS": "4",
    "WORKER_WAIT_SECONDS": "1",
    "WORKER_CONCURRENCY": "2",
    "HANDLER_TIMEOUT_SECONDS": "120",
    "SHUTDOWN_GRACE_SECONDS": "10",
    "JOB_REQUEUE_AFTER_SECONDS": "8",
    "JOB_SWEEP_EVERY_SECONDS": "2",
}


def job_spec(i: int) -> dict[str, Any]:
    """A valid, cheap backtest; the universe rotates so jobs are not all identical."""
    universe = [TICKERS[i % len(TICKERS)], TICKERS[(i + 1) % len(TICKERS)], "IEF"]
    return {
        "name": f"chaos-{i}",
        "strategy": {"type": "equal_weight", "params": {}},
        "universe": list(dict.fromkeys(universe)),
        "start": "2012-01-01",
        "end": "2020-12-31",
        "rebalance": "M",
        "benchmark": "SPY",
    }


def pg_dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg_dsn(url), timeout=5)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def poll(
    fetch_value: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    timeout_s: float,
    every_s: float = 0.5,
    what: str = "condition",
) -> T:
    """Wait for a state (never assert on elapsed time: the box is shared and slow)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = await fetch_value()
        except (OSError, asyncpg.PostgresError, httpx.HTTPError) as exc:
            value = exc  # type: ignore[assignment]
        else:
            if until(value):
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}; last value: {value!r}"[:4000])
        await asyncio.sleep(every_s)


# --- databases ---------------------------------------------------------------------------


async def prepare_database(url: str, *, ingest: Sequence[str] = ()) -> None:
    """Migrate and seed ``url`` in process (cheaper than two CLI processes), and optionally land
    the prices of ``ingest`` through the real ingestion use case."""
    from adapters.factories import open_repositories
    from adapters.settings import DatabaseSettings
    from adapters.sqlalchemy import run_migrations
    from adapters.universe import seed_assets, seed_macro_series

    await asyncio.to_thread(run_migrations, url)
    async with open_repositories(DatabaseSettings(database_url=url)) as repositories:
        await repositories.assets.upsert_many(seed_assets())
        await repositories.macro.upsert_series(seed_macro_series())
    if ingest:
        await ingest_in_process(url, ingest)


async def ingest_in_process(url: str, tickers: Sequence[str]) -> None:
    """A clean, fault-free ingestion run of ``tickers`` (the reference the faults compare to)."""
    import uuid

    from adapters.memory.queue import InMemoryMessageQueue
    from adapters.settings import DatabaseSettings
    from domain.messages import UpdatePrices
    from ingestor.bootstrap import IngestorSettings, bootstrap

    settings = IngestorSettings(database=DatabaseSettings(database_url=url))
    async with bootstrap(settings, queue=InMemoryMessageQueue("clean-run")) as container:
        # A batch size above the ticker count: one run, no fan-out, nothing left on a queue.
        command = UpdatePrices(market="US", tickers=list(tickers))
        await container.ingest_prices(command, run_id=uuid.uuid4())


PRICE_FINGERPRINT_SQL = """
SELECT a.ticker, count(*) AS n,
       md5(string_agg(concat_ws(',', p.date, p.open, p.high, p.low, p.close, p.adj_close,
                                p.volume), ';' ORDER BY p.date)) AS digest
FROM prices p JOIN assets a ON a.id = p.asset_id
WHERE a.market = 'US' AND a.ticker = ANY($1::text[])
GROUP BY a.ticker
"""


async def price_fingerprint(url: str, tickers: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Per ticker: row count and a digest of every stored value, in date order."""
    rows = await fetch(url, PRICE_FINGERPRINT_SQL, list(tickers))
    return {r["ticker"]: (int(r["n"]), str(r["digest"])) for r in rows}


# --- the stack ---------------------------------------------------------------------------


@dataclass
class ChaosStack(ServiceStack):
    """``ServiceStack`` plus what fault scenarios need: kill and restart, submit and observe
    jobs in the database, look at the queues from the outside and check the invariants.

    ``sqs_endpoint`` is what the services use (maybe a fault proxy); ``direct_sqs`` is the real
    endpoint the test inspects through."""

    direct_sqs: str = ""
    submitted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # What must never appear in a log line (see test_zz_logs_hold_no_secrets.py).
        SECRETS.add(self.database_url)
        SECRETS.update(k for k in self.extra_env.get("API_KEYS", "").split(",") if k)

    def kill(self, name: str) -> int:
        return self.stop(name, signal.SIGKILL)

    def restart(self, name: str, *args: str) -> None:
        """Deploy-like: SIGTERM, wait for a clean exit, start the new process."""
        code = self.stop(name)
        assert code == 0, f"{name} exited {code} on SIGTERM:\n{self.logs(name)[-3000:]}"
        self.start(name, *args)

    @property
    def backtest_queue(self) -> str:
        return self.env["BACKTEST_QUEUE_NAME"]

    @property
    def ingest_queue(self) -> str:
        return self.env["INGEST_QUEUE_NAME"]

    # --- jobs ---

    async def submit(self, client: httpx.AsyncClient, count: int, offset: int = 0) -> list[str]:
        ids = []
        for i in range(offset, offset + count):
            answer = await client.post("/v1/backtests", json=job_spec(i))
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        self.submitted += ids
        return ids

    async def job_states(self, ids: Sequence[str]) -> dict[str, str]:
        rows = await fetch(
            self.database_url,
            "SELECT id::text AS id, status FROM backtest_jobs WHERE id = ANY($1::uuid[])",
            list(ids),
        )
        return {r["id"]: r["status"] for r in rows}

    async def wait_terminal(self, ids: Sequence[str], timeout_s: float = 240) -> dict[str, str]:
        def done(states: dict[str, str]) -> bool:
            return len(states) == len(ids) and set(states.values()) <= TERMINAL

        states = await poll(
            lambda: self.job_states(ids),
            done,
            timeout_s=timeout_s,
            what=f"{len(ids)} jobs to finish",
        )
        return states

    async def result_counts(self, ids: Sequence[str]) -> dict[str, int]:
        rows = await fetch(
            self.database_url,
            "SELECT job_id::text AS id, count(*) AS n FROM backtest_results "
            "WHERE job_id = ANY($1::uuid[]) GROUP BY job_id",
            list(ids),
        )
        return {r["id"]: int(r["n"]) for r in rows}

    def completions(self) -> Counter[str]:
        """How many times each job ran to success, across every backtester log of the stack
        (a restarted process appends to the same log)."""
        counts: Counter[str] = Counter()
        for path in self.log_dir.glob("backtester*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if '"run_backtest handled"' not in line:
                    continue
                entry = json.loads(line)
                if entry.get("status") == "succeeded":
                    counts[entry["job_id"]] += 1
        return counts

    # --- queues ---

    async def dead_letters(self, name: str) -> list[Any]:
        from adapters.sqs import SqsConnection

        async with SqsConnection(self.direct_sqs, "us-east-1") as connection:
            queue = await connection.queue(name)
            depth = (await queue.depth())["dead_lettered"]
            letters = await queue.dead_letters(10) if depth else []
        assert len(letters) == depth or depth > 10, (depth, letters)
        return letters

    async def send_raw(self, name: str, bodies: Sequence[str]) -> None:
        from adapters.sqs import SqsConnection

        async with SqsConnection(self.direct_sqs, "us-east-1") as connection:
            queue = await connection.queue(name, create=True)
            for body in bodies:
                await queue.send(body)

    async def queue_depth(self, name: str) -> dict[str, int]:
        from adapters.sqs import SqsConnection

        async with SqsConnection(self.direct_sqs, "us-east-1") as connection:
            return await (await connection.queue(name)).depth()

    # --- invariants ---

    async def check_invariants(
        self,
        ids: Sequence[str],
        *,
        poison: Sequence[str] = (),
        timeout_s: float = 240,
        check_dead_letters: bool = True,
    ) -> None:
        """The delivery invariants for the jobs ``ids``: all terminal (and, being valid requests,
        succeeded); exactly one result each; none run twice to completion; the DLQs hold
        exactly the ``poison`` bodies the scenario sent and nothing else."""
        states = await self.wait_terminal(ids, timeout_s)
        not_ok = {i: s for i, s in states.items() if s != "succeeded"}
        assert not not_ok, f"jobs did not succeed: {not_ok}"
        results = await self.result_counts(ids)
        assert {i: results.get(i, 0) for i in ids} == dict.fromkeys(ids, 1)
        twice = {job: n for job, n in self.completions().items() if n > 1}
        assert not twice, f"jobs run to completion more than once: {twice}"
        if check_dead_letters:
            await self.check_dead_letters(poison)

    async def check_dead_letters(self, poison: Sequence[str] = ()) -> None:
        letters = [
            *await self.dead_letters(self.backtest_queue),
            *await self.dead_letters(self.ingest_queue),
        ]
        assert sorted(letter.body for letter in letters) == sorted(poison), [
            (letter.body[:200], letter.reason) for letter in letters
        ]
