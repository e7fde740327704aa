"""`larkdou gateway` as a real process in long-connection mode: no public URL, events arrive over
the connection it opens to the (sandbox) Lark, and the assistant's /fetch gets them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import tomli_w

from larkdou.config import Settings
from tests.conftest import free_port
from tests.factories import FETCH_TOKEN
from tests.longconn.conftest import eventually, open_sandbox


def write_config(settings: Settings, path: Path, **lark_group: str) -> Path:
    group = settings.lark_group
    data = {
        "frontend": {"lark_group": {"app_id": group.app_id, "app_secret": settings.secret(group.app_secret),
                                    "receive_mode": "long_connection", **lark_group}},
        "gateway": {"host": "127.0.0.1", "fetch_token": FETCH_TOKEN, "store": "sqlite:///workdir/gateway.db"},
        "lark": {"domain": settings.lark.domain},
    }
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


async def test_a_gateway_process_receives_over_the_long_connection(settings: Settings, tmp_path: Path):
    cfg = write_config(settings, tmp_path / "config.ini")
    port = free_port()
    async with open_sandbox(settings) as sandbox:
        proc = subprocess.Popen([sys.executable, "-m", "larkdou", "gateway", "--config", str(cfg), "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
                async def healthy() -> bool:
                    assert proc.poll() is None, "the gateway exited"
                    try:
                        return (await http.get("/healthz")).status_code == 200
                    except httpx.HTTPError:
                        return False

                await eventually(healthy, timeout=60)
                msg_id = await sandbox.say("oc_chat1", "没有公网 IP 也能收到吗？")

                async def fetched() -> dict:  # type: ignore[type-arg]
                    r = await http.post("/fetch", params={"wait": 1},
                                        headers={"Authorization": f"Bearer {FETCH_TOKEN}"})
                    return r.json()

                got = await eventually(fetched)
                assert got["msg_id"] == msg_id and got["content"] == "没有公网 IP 也能收到吗？"
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 or proc.returncode < 0
    assert "Traceback" not in out
    for secret in (settings.secret(settings.lark_group.app_secret), FETCH_TOKEN, "ticket="):
        assert secret not in out


def test_a_gateway_without_the_app_secret_says_which_key_is_missing(settings: Settings, tmp_path: Path):
    cfg = write_config(settings, tmp_path / "config.ini", app_secret="")
    done = subprocess.run([sys.executable, "-m", "larkdou", "gateway", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "[frontend.lark_group] app_secret is required" in done.stderr
    assert "Traceback" not in done.stderr
