"""A local SQS endpoint for tests: moto in server mode on loopback (the real SQS HTTP protocol)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

TEST_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextlib.contextmanager
def local_sqs_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for key, value in TEST_AWS_ENV.items():
        os.environ.setdefault(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
