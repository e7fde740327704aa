"""`larkdou gateway` as a real process, driven over HTTP as the guide does."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
import tomli_w

from tests.conftest import free_port
from tests.factories import FETCH_TOKEN, VERIFICATION_TOKEN, message_event, settings_dict, signed_request
from tests.gateway.spawn import spawn_gateway


def write_config(path, data):
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def run_cli(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "larkdou", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def gateway_process(tmp_path):
    cfg = write_config(tmp_path / "config.ini", settings_dict("sqlite:///workdir/gateway.db"))
    proc, base = spawn_gateway(cfg)
    yield base, tmp_path
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert "Traceback" not in out
    for secret in (VERIFICATION_TOKEN, FETCH_TOKEN, "test-encrypt-key", "test-app-secret"):
        assert secret not in out


def test_guide_steps_against_a_real_gateway_process(gateway_process):
    base, tmp_path = gateway_process
    body, headers = signed_request({"challenge": "from-console", "token": VERIFICATION_TOKEN,
                                    "type": "url_verification"}, sign=False)
    assert httpx.post(f"{base}/event", content=body, headers=headers).json() == {"challenge": "from-console"}
    for text in ["1", "2", "3", "豆哥撤回"]:
        body, headers = signed_request(message_event(text, chat_id="oc_guide"))
        assert httpx.post(f"{base}/event", content=body, headers=headers).status_code == 200
    # curl -X POST -H "Authorization: Bearer …" http://127.0.0.1:6666/fetch
    auth = {"Authorization": f"Bearer {FETCH_TOKEN}", "Content-Type": "application/json"}
    got = [httpx.post(f"{base}/fetch", headers=auth).json() for _ in range(4)]
    assert [g["content"] for g in got] == ["豆哥撤回", "1", "2", "3"]
    assert got[0]["is_recall"] is True
    assert (tmp_path / "workdir" / "gateway.db").exists()  # relative store paths follow the config file


def test_gateway_refuses_to_start_without_a_verification_token(tmp_path):
    data = settings_dict("sqlite:///gw.db")
    data["frontend"]["lark_group"]["verification_token"] = ""
    cfg = write_config(tmp_path / "config.ini", data)
    res = run_cli("gateway", "--config", str(cfg), "--port", str(free_port()))
    assert res.returncode == 2
    assert "verification_token is required" in res.stderr and "LARKDOU_VERIFICATION_TOKEN" in res.stderr
    assert "Traceback" not in res.stderr


def test_config_errors_name_the_key(tmp_path):
    cfg = tmp_path / "config.ini"
    cfg.write_text('[gateway]\nprot = 1\n')
    res = run_cli("config", "check", "--config", str(cfg))
    assert res.returncode == 2 and "'prot'" in res.stderr and "did you mean 'port'" in res.stderr
    cfg.write_text('[gateway]\nport = "six"\n')
    res = run_cli("config", "check", "--config", str(cfg))
    assert res.returncode == 2 and "[gateway] port: expected an integer" in res.stderr


def test_config_init_then_check_masks_secrets(tmp_path):
    cfg = tmp_path / "config.ini"
    assert run_cli("config", "init", "--path", str(cfg)).returncode == 0
    text = cfg.read_text()
    token = text.split('fetch_token = "')[1].split('"')[0]
    assert len(token) >= 24
    res = run_cli("config", "check", "--config", str(cfg))
    assert res.returncode == 2 and token not in res.stdout + res.stderr  # the credentials are still to fill in
    assert all(f"{key} is required" in res.stderr for key in ("app_id", "app_secret", "verification_token"))
    cfg.write_text(text.replace('app_id = ""', 'app_id = "cli_x"').replace('app_secret = ""', 'app_secret = "sec"')
                   .replace('verification_token = ""', 'verification_token = "def"'))
    res = run_cli("config", "check", "--config", str(cfg))
    assert res.returncode == 0 and token not in res.stdout and "fetch_token = ******" in res.stdout
    assert run_cli("config", "init", "--path", str(cfg)).returncode == 2  # never overwrites silently


def test_secret_from_environment_wins(tmp_path):
    cfg = write_config(tmp_path / "config.ini", settings_dict("sqlite:///gw.db"))
    env_res = subprocess.run([sys.executable, "-c", (
        "from larkdou.config import load_settings;"
        f"s=load_settings({str(cfg)!r});print(s.lark_group.app_secret.get_secret_value())")],
        capture_output=True, text=True, env={"LARKDOU_APP_SECRET": "from-env", "PATH": "/usr/bin"})
    assert env_res.stdout.strip() == "from-env"


def test_assistant_refuses_to_start_without_app_credentials(tmp_path):
    data = settings_dict("sqlite:///gw.db")
    data["frontend"]["lark_group"]["app_secret"] = ""
    cfg = write_config(tmp_path / "config.ini", data)
    res = run_cli("assistant", "--config", str(cfg))
    assert res.returncode == 2
    assert "app_secret is required" in res.stderr and "LARKDOU_APP_SECRET" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_config_file_points_at_config_init(tmp_path):
    res = subprocess.run([sys.executable, "-m", "larkdou", "gateway"], capture_output=True, text=True,
                         timeout=30, cwd=tmp_path)
    assert res.returncode == 2 and "larkdou config init" in res.stderr
