"""Fault injection for the reliability suite: a TCP proxy that can cut a dependency off, and a
throwaway PostgreSQL cluster that can be stopped and started (never the shared server).

Both only ever listen on and connect to loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator

from tests.support.postgres import _free_port, _server_binaries

_CHUNK = 64 * 1024


class TcpFaultProxy:
    """Forwards ``127.0.0.1:<port>`` to an upstream loopback address until ``cut()``.

    While cut, every live connection is reset and every new one is accepted and reset at once,
    as clients see a dependency that went away (not one that hangs). ``restore()`` lets new
    connections through again; clients must reconnect on their own, which is what is tested.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        if upstream_host not in {"127.0.0.1", "localhost"}:
            raise ValueError("the fault proxy only forwards to loopback")
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._up = threading.Event()
        self._up.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            _reset(sock)

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._acceptor.join(timeout=5)

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._live.update({client, upstream})
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(_CHUNK):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with self._lock:
                    self._live.discard(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


def _reset(sock: socket.socket) -> None:
    # SO_LINGER 0 makes close() send RST: the peer gets "connection reset", immediately.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temp dir on its own loopback port, which a test may
    stop and start at will. The shared server on 5432 is never touched."""

    def __init__(self) -> None:
        bindir = _server_binaries()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self._bindir = bindir
        self._workdir = tempfile.mkdtemp(prefix="ii-chaos-pg-")
        self._datadir = os.path.join(self._workdir, "data")
        self.port = _free_port()
        self._run_as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self._workdir, "postgres")
            self._run_as = ["runuser", "-u", "postgres", "--"]
        self._pg("initdb", "-D", self._datadir, "-U", "postgres", "-A", "trust")

    @property
    def admin_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self._workdir} -h 127.0.0.1 -c max_connections=100"
        log = os.path.join(self._workdir, "log")
        self._pg("pg_ctl", "-D", self._datadir, "-w", "-l", log, "-o", options, "start")

    def stop(self) -> None:
        # "fast": sessions are disconnected, as in a failover or a maintenance restart.
        self._pg("pg_ctl", "-D", self._datadir, "-w", "-m", "fast", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg("pg_ctl", "-D", self._datadir, "-m", "immediate", "stop")
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._run_as, os.path.join(self._bindir, tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    cluster = ThrowawayPostgres()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


@contextlib.contextmanager
def fault_proxy(upstream_url: str) -> Iterator[TcpFaultProxy]:
    """A ``TcpFaultProxy`` in front of an ``http://host:port`` endpoint."""
    from urllib.parse import urlsplit

    parts = urlsplit(upstream_url)
    proxy = TcpFaultProxy(parts.hostname or "127.0.0.1", parts.port or 80)
    try:
        yield proxy
    finally:
        proxy.close()
