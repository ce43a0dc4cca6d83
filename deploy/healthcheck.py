"""Container health check for the one image (Docker HEALTHCHECK and the ECS task health check).

The gateway is healthy when ``/health/live`` answers 200 on GATEWAY_PORT. A worker (ingestor,
backtester) has no HTTP port: it is healthy while its main process runs, because the worker
exits on a fatal error and ECS replaces the task. One-shot commands (migrate, seed) count as
healthy while they run. Standard library only: it runs inside the slim runtime image.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path


def _command() -> list[str]:
    # PID 1 is `insight-invest <command>` (the image's ENTRYPOINT), or python running it.
    raw = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    return [part.decode(errors="replace") for part in raw if part]


def _gateway_live() -> bool:
    port = os.environ.get("GATEWAY_PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=4) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def main() -> int:
    command = _command()
    if "gateway" in command:
        return 0 if _gateway_live() else 1
    return 0 if command else 1


if __name__ == "__main__":
    sys.exit(main())
