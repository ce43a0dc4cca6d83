"""A local SQS endpoint: moto in server mode on loopback (the real SQS HTTP protocol, offline).

Used by ``make run`` / ``insight-invest local-sqs`` and by tests. Loopback only: moto accepts
any credentials, so it must never listen on a routable address.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# moto checks nothing, but botocore refuses to sign without credentials: dummies only, set only
# where the developer has none (never overriding real ones for other tools in the process).
_DUMMY_AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def run_local_sqs(
    host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False
) -> tuple[Any, str]:
    """Start moto on ``host:port`` (0: a free port) in a background thread; return the server
    (call ``.stop()``) and its URL. ``allow_remote`` is for a container on a private compose
    network, never for a host."""
    from moto.server import ThreadedMotoServer

    if host not in LOOPBACK and not allow_remote:
        raise ValueError(f"the local SQS endpoint listens on loopback only, not {host!r}")
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


@contextlib.contextmanager
def local_sqs(
    port: int = 0, host: str = "127.0.0.1", *, allow_remote: bool = False
) -> Iterator[str]:
    """``with local_sqs() as url:`` a moto SQS endpoint for the duration of the block."""
    server, url = run_local_sqs(host, port, allow_remote=allow_remote)
    try:
        yield url
    finally:
        server.stop()


def serve_forever(port: int = 9324, host: str = "127.0.0.1", *, allow_remote: bool = False) -> None:
    """Serve until SIGTERM/SIGINT (the ``insight-invest local-sqs`` command)."""
    for key, value in _DUMMY_AWS_ENV.items():
        os.environ.setdefault(key, value)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with local_sqs(port=port, host=host, allow_remote=allow_remote) as url:
        logger.info("local SQS endpoint ready", extra={"endpoint": url})
        print(f"local SQS endpoint on {url}", flush=True)
        stop.wait()
