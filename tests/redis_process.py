"""A real redis-server on a loopback port, for the test fixtures and the benchmarks."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

# Ports handed out below the kernel's ephemeral range (32768–60999 on Linux), so that a port found
# free is not taken meanwhile by a socket bound to port 0 or by an outgoing connection; each pytest-
# xdist worker ("gw0", "gw1", …) has its own block, so parallel workers never pick the same port.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
_WORKER = int(_worker) if _worker.isdigit() else 0
_BLOCK = 1000
_next_port = itertools.cycle(range(20000 + _WORKER * _BLOCK, 20000 + (_WORKER + 1) * _BLOCK))


def free_port() -> int:
    """A loopback port nothing listens on now, from this process's block (see above)."""
    for _ in range(_BLOCK):
        port = next(_next_port)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in this test worker's block")


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 10.0) -> None:
    """Return once 127.0.0.1:`port` accepts connections; RuntimeError if `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not start within {timeout:g} s")


class RedisProcess:
    """redis-server on a free port, data in `workdir`; can be stopped and started again on the same port."""

    def __init__(self, workdir: Path, *, appendonly: bool = False, databases: int = 16):
        self.port = free_port()
        self.workdir = workdir
        self.appendonly = appendonly
        self.databases = databases
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL (append `/<db>`)."""
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "RedisProcess":
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (make test installs it with apt-get)")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.workdir),
             "--databases", str(self.databases)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc, "redis-server")
        return self

    def stop(self) -> None:
        """A clean shutdown."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def kill(self) -> None:
        """Gone at once, as in a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
