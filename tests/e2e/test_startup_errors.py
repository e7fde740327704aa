"""An address a server cannot listen on: one line naming the key to change, exit status 2, no
traceback, for every command that serves something."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from larkdou.demo import demo_config
from tests.conftest import free_port
from tests.factories import settings_dict


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "larkdou", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin"})


@pytest.fixture
def taken():
    """A port something else is listening on (on all addresses, so every host conflicts)."""
    sock = socket.socket()
    sock.bind(("0.0.0.0", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def write_config(tmp_path: Path, **tables) -> Path:  # type: ignore[no-untyped-def]
    data = settings_dict("sqlite:///gw.db")
    data["gateway"].update(port=free_port())
    data["assistant"] = {"port": free_port(), "work_dir": str(tmp_path / "work")}
    data["lark"] = {"domain": "http://127.0.0.1:9"}  # nothing there: a start must fail before it calls Lark
    for table, values in tables.items():
        data.setdefault(table, {}).update(values)
    path = tmp_path / "config.ini"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def one_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "Errno" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_gateway(tmp_path, taken):
    write_config(tmp_path, gateway={"port": taken})
    assert one_line(run_cli("gateway", cwd=tmp_path)) == f"error: port {taken} is in use ([gateway] port)"
    write_config(tmp_path)
    assert one_line(run_cli("gateway", "--port", str(taken), cwd=tmp_path)) == \
        f"error: port {taken} is in use (--port)"


def test_assistant_api_port(tmp_path, taken):
    write_config(tmp_path, assistant={"port": taken})
    assert one_line(run_cli("assistant", cwd=tmp_path)) == f"error: port {taken} is in use ([assistant] port)"


def test_standalone_gateway_port(tmp_path, taken):
    write_config(tmp_path, gateway={"port": taken})
    assert one_line(run_cli("assistant", "--standalone", cwd=tmp_path)) == \
        f"error: port {taken} is in use ([gateway] port)"


def test_sandbox(tmp_path, taken):
    write_config(tmp_path, sandbox={"port": taken})
    assert one_line(run_cli("sandbox", cwd=tmp_path)) == f"error: port {taken} is in use ([sandbox] port)"
    assert one_line(run_cli("sandbox", "--port", str(taken), cwd=tmp_path)) == \
        f"error: port {taken} is in use (--port)"


def test_demo_with_a_kept_work_dir(tmp_path, taken):
    work = tmp_path / "demo"
    work.mkdir()
    config = work / "config.ini"
    config.write_text(tomli_w.dumps(demo_config(work, ports=(taken, free_port(), free_port()))), encoding="utf-8")
    res = run_cli("demo", "--once", "--work-dir", str(work), cwd=tmp_path)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert lines == [f"error: port {taken} is in use ([sandbox] port in {config.resolve()})"]


@pytest.mark.parametrize("host", ["10.255.255.1", "no-such-host.invalid"])
def test_an_address_that_is_not_this_machines(tmp_path, host):
    write_config(tmp_path, gateway={"host": host})
    assert one_line(run_cli("gateway", cwd=tmp_path)) == \
        f"error: cannot listen on {host!r}: not an address of this machine ([gateway] host)"
