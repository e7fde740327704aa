"""`larkdou config check [--role …]`: the services' own validation, every problem in one run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from larkdou.cli import main
from tests.conftest import free_port

HUIXIANGDOU = Path(__file__).parent / "data" / "huixiangdou-config.ini"
GUIDE = '''
[frontend]
type = "lark_group"
webhook_url = "http://101.133.161.20:6666/fetch"

[frontend.lark_group]
app_id = "cli_a53a34dcb7785xxx"
app_secret = "2ajhg1ixSvlNm1bJkH4tJhPfTCsGGXXX"
encrypt_key = "abc"
verification_token = "def"
'''
FETCH = '\n[gateway]\nfetch_token = "a-long-random-fetch-token"\n'


def check(tmp_path: Path, text: str, *args: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.ini"
    path.write_text(text, encoding="utf-8")
    return CliRunner().invoke(main, ["config", "check", "--config", str(path), *args], env={})


def errors(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


def warnings(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


def test_a_real_huixiangdou_config_in_one_run(tmp_path):
    result = check(tmp_path, HUIXIANGDOU.read_text(encoding="utf-8"))
    assert result.exit_code == 2
    assert errors(result) == [  # the one thing larkdou needs that HuixiangDou's file cannot have
        f"error: {tmp_path / 'config.ini'}: [gateway] fetch_token is required for the gateway (the assistant's "
        "Bearer token for /fetch) (in the file, or as LARKDOU_FETCH_TOKEN)"]
    ignored = warnings(result)
    assert len(ignored) == 1  # listed once
    for name in ("[feature_store]", "[web_search]", "[coreference_resolution]", "[worker] (and 1 table in it)",
                 "[sg_search] (and 2 tables in it)", "[frontend.wechat_personal]", "[frontend.wechat_wkteam]",
                 "[llm] client_url", "[llm.server] tpm", "[frontend] message_process_policy"):
        assert name in ignored[0], name
    assert "did you mean" not in result.stderr
    fixed = check(tmp_path, HUIXIANGDOU.read_text(encoding="utf-8") + FETCH)
    assert fixed.exit_code == 0, fixed.stderr
    assert f"{tmp_path / 'config.ini'}: OK for the gateway and the assistant" in fixed.stdout
    assert "2ajhg1ixSvlNm1bJkH4tJhPfTCsGGHT1" not in fixed.output and "hxd123" not in fixed.output


def test_the_unedited_huixiangdou_file_and_its_remote_llm(tmp_path):
    text = HUIXIANGDOU.read_text(encoding="utf-8") + FETCH
    text = text.replace('type = "lark_group"', 'type = "none"').replace("enable_remote = 0", "enable_remote = 1")
    result = check(tmp_path, text)
    assert result.exit_code == 2
    said = "\n".join(errors(result))
    assert "[frontend] type: expected 'lark_group', got 'none'" in said
    assert "[llm.server] remote_api_key is required for remote_type 'kimi' (a placeholder is set" in said
    assert len(errors(result)) == 2


def test_typos_in_larkdous_own_keys_are_still_errors_with_a_suggestion(tmp_path):
    result = check(tmp_path, GUIDE + FETCH + 'prot = 7000\n[llm.server]\nremote_tpye = "kimi"\ntpm = 1\n'
                   '[feature_stor]\nx = 1\n')
    said = "\n".join(errors(result))
    assert "unknown key 'prot' in [gateway] (did you mean 'port'?)" in said
    assert "unknown key 'remote_tpye' in [llm.server] (did you mean 'remote_type'?)" in said
    assert "unknown key 'feature_stor' in [top level]" in said
    assert "[llm.server] tpm" in "\n".join(warnings(result)) and "'tpm'" not in said


def test_every_problem_in_one_run(tmp_path):
    result = check(tmp_path, '''
[frontend]
webhook_url = "101.133.161.20:6666/fetch"
[gateway]
store = "mysql://x"
port = "six"
prot = 1
[assistant]
store = "sqlite:///"
[kb]
threshold = 5.0
chunk_size = 100
chunk_overlap = 200
[llm.server]
remote_type = "openai"
''')
    said = "\n".join(errors(result))
    for expected in ("[frontend] webhook_url: must be an http:// or https:// URL with a host",
                     "[gateway] store: must start with sqlite:/// (a file), redis://, rediss:// or unix://",
                     "[gateway] port: expected an integer, got 'six'",
                     "unknown key 'prot' in [gateway]",
                     "[assistant] store: sqlite:/// needs a file path",
                     "[kb] threshold: must be at most 1",
                     "chunk_overlap (200) must be less than chunk_size (100)",
                     "[llm.server] remote_api_key is required for remote_type 'openai'",
                     "[frontend.lark_group] verification_token is required",
                     "[frontend.lark_group] app_id is required",
                     "[frontend.lark_group] app_secret is required",
                     "[gateway] fetch_token is required"):
        assert expected in said, expected
    assert result.stderr.strip().endswith("12 problems for the gateway and the assistant")


@pytest.mark.parametrize("text,expected", [
    ("", "[gateway] fetch_token is required"),
    (GUIDE, "[gateway] fetch_token is required"),
    (GUIDE + FETCH.replace("]\n", ']\nstore = "mysql://x"\n'), "[gateway] store: must start with"),
    (GUIDE.replace('"http://101', '"101') + FETCH, "[frontend] webhook_url: must be an http"),
    (GUIDE + FETCH + "[kb]\nthreshold = 5.0\n", "[kb] threshold: must be at most 1"),
    (GUIDE + FETCH + '[llm.server]\nremote_type = "openai"\n', "remote_api_key is required for remote_type 'openai'"),
    (GUIDE + FETCH + '[llm.server]\nremote_type = "xi-api"\nremote_api_key = "k"\n', "unknown provider 'xi-api'"),
    (GUIDE + FETCH + '[assistant]\nreply_format = "html"\n', """[assistant] reply_format: expected 'card' or 'text', got 'html'"""),
    (GUIDE + FETCH + '[assistant]\nreply_format = true\n', "[assistant] reply_format: expected 'card' or 'text', got True"),
])
def test_configs_the_services_would_refuse_are_not_ok(tmp_path, text, expected):
    result = check(tmp_path, text)
    assert result.exit_code == 2 and expected in result.stderr and "OK" not in result.stdout


def test_roles(tmp_path):
    assert check(tmp_path, GUIDE + FETCH).exit_code == 0
    assert check(tmp_path, GUIDE, "--role", "standalone").exit_code == 0  # it reads its own queue
    open_api = GUIDE + FETCH + '[assistant]\nhost = "0.0.0.0"\n'
    refused = check(tmp_path, open_api, "--role", "assistant")
    assert refused.exit_code == 2 and "[assistant] host '0.0.0.0' is not a loopback address" in refused.stderr
    assert check(tmp_path, open_api + 'api_token = "an-api-token"\n', "--role", "assistant").exit_code == 0
    assert check(tmp_path, open_api, "--role", "gateway").exit_code == 0  # not the gateway's business
    same_port = GUIDE + FETCH + "port = 8888\n"
    clash = check(tmp_path, same_port, "--role", "standalone")
    assert clash.exit_code == 2 and "both 8888" in clash.stderr
    long_conn = GUIDE.replace('verification_token = "def"', 'receive_mode = "long_connection"')
    assert check(tmp_path, long_conn + FETCH, "--role", "gateway").exit_code == 0


def test_values_are_shown_masked(tmp_path):
    text = GUIDE + FETCH + 'store = "redis://:redis-password@10.0.0.5:6379/0"\n'
    result = check(tmp_path, text)
    assert result.exit_code == 0
    assert "store = 'redis://:******@10.0.0.5:6379/0'" in result.stdout
    assert "app_secret = ******\n" in result.stdout and "redis-password" not in result.output


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "larkdou", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin"})


def test_the_services_refuse_what_config_check_refuses_in_the_same_words(tmp_path):
    (tmp_path / "config.ini").write_text(GUIDE + FETCH + f'port = {free_port()}\n[assistant]\nhost = "0.0.0.0"\n'
                                         f'port = {free_port()}\n', encoding="utf-8")
    checked = run_cli("config", "check", "--role", "assistant", cwd=tmp_path)
    started = run_cli("assistant", cwd=tmp_path)
    assert checked.returncode == started.returncode == 2
    assert errors_of(checked.stderr) == errors_of(started.stderr) != []
    (tmp_path / "config.ini").write_text(GUIDE, encoding="utf-8")
    checked = run_cli("config", "check", "--role", "gateway", cwd=tmp_path)
    started = run_cli("gateway", "--port", str(free_port()), cwd=tmp_path)
    assert checked.returncode == started.returncode == 2
    assert errors_of(checked.stderr) == errors_of(started.stderr) != []
    assert "Traceback" not in started.stderr


def errors_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]
