"""`larkdou gateway --workers N`: several processes on one port and one Redis store; SQLite refuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import tomli_w

from tests.conftest import free_port
from tests.factories import FETCH_TOKEN, VERIFICATION_TOKEN, message_event, settings_dict, signed_request
from tests.gateway.spawn import spawn_gateway

AUTH = {"Authorization": f"Bearer {FETCH_TOKEN}"}


def children(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-ww", "--ppid", str(pid), "-o", "args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "spawn_main" in line]


def test_two_worker_processes_serve_one_port_on_redis(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "config.ini"
    cfg.write_text(tomli_w.dumps(settings_dict(redis_url)), encoding="utf-8")
    proc, base = spawn_gateway(cfg, "--workers", "2")
    try:
        assert len(children(proc.pid)) == 2
        with httpx.Client(base_url=base, timeout=10) as http:  # new connections land on either process
            for i in range(20):
                body, headers = signed_request(message_event(f"q{i}", message_id=f"om_w{i}"))
                assert http.post("/event", content=body, headers={**headers, "Connection": "close"}).status_code == 200
            again, headers = signed_request(message_event("q0", message_id="om_w0"))
            assert http.post("/event", content=again, headers=headers).status_code == 200  # a duplicate
            got = http.post("/fetch", params={"max": 50}, headers=AUTH).json()["messages"]
            assert sorted(m["msg_id"] for m in got) == sorted(f"om_w{i}" for i in range(20))
            acked = http.post("/ack", json={"delivery_ids": [m["delivery_id"] for m in got]}, headers=AUTH).json()
            assert acked == {"acked": [True] * 20}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "2 worker processes" in out and "Traceback" not in out
    assert FETCH_TOKEN not in out and VERIFICATION_TOKEN not in out


def test_workers_on_sqlite_is_a_clear_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "config.ini"
    cfg.write_text(tomli_w.dumps(settings_dict("sqlite:///workdir/gateway.db")), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "larkdou", "gateway", "--config", str(cfg), "--port", str(free_port()),
                        "--workers", "2"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--workers 2 needs a Redis store" in r.stderr and "Traceback" not in r.stderr
