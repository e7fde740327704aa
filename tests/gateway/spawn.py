"""A real `larkdou gateway` process for the tests that drive one over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.redis_process import free_port


def spawn_gateway(cfg, *args):
    """`larkdou gateway --config cfg` (plus `args`) as a real process on a free port, output piped;
    returns (process, base URL) once its /healthz answers 200."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "larkdou", "gateway", "--config", str(cfg), "--port", str(port),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"gateway did not start: {proc.stdout.read()}")
        time.sleep(0.1)
