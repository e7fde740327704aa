"""`larkdou sandbox` as a user runs it: a real process, configured from a TOML file."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.sandbox.conftest import wait_until

CONFIG = """
[frontend.lark_group]
app_id = "cli_from_config"
app_secret = "secret-from-config"
encrypt_key = "key-from-config"
verification_token = "token-from-config"

[sandbox]
bot_name = "小豆"
"""


def run(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "larkdou", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_sandbox_command_serves_the_configured_app(tmp_path: Path) -> None:
    (tmp_path / "config.ini").write_text(CONFIG, encoding="utf-8")
    port = free_port()
    proc = run(["sandbox", "--config", "config.ini", "--port", str(port), "--callback",
                "http://127.0.0.1:9/event"], tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            async def up() -> bool:
                if proc.poll() is not None:
                    pytest.fail(f"larkdou sandbox exited: {proc.communicate()[1]}")
                try:
                    return (await http.get("/sandbox/info")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(up, timeout=20)
            info = (await http.get("/sandbox/info")).json()
            assert (info["app_id"], info["bot"]["name"], info["callback"], info["encrypted"]) == (
                "cli_from_config", "小豆", "http://127.0.0.1:9/event", True)
            token = await http.post("/open-apis/auth/v3/tenant_access_token/internal",
                                    json={"app_id": "cli_from_config", "app_secret": "secret-from-config"})
            assert token.json()["code"] == 0
            assert "<title>larkdou sandbox</title>" in (await http.get("/sandbox/")).text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert f"{base}/sandbox/" in out
    for secret in ("secret-from-config", "key-from-config", "token-from-config"):
        assert secret not in out + err


@pytest.mark.parametrize("args, reason", [
    (["--callback", "gateway:6666"], "callback must be an http"),
    (["--port", "{busy}"], "is in use (--port)"),
])
def test_sandbox_command_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], reason: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = [a.replace("{busy}", str(busy.getsockname()[1])) for a in args]
        proc = run(["sandbox", *args], tmp_path)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert reason in err and "Traceback" not in err
