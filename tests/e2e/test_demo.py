"""`larkdou demo --once`: the scripted conversation, as a user sees it in the terminal."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tomli_w

from larkdou.demo import demo_config
from tests.conftest import free_port
from tests.e2e.harness import ROOT


@pytest.mark.parametrize("mode", ["webhook", "long_connection"])
def test_demo_answers_stays_quiet_and_recalls(tmp_path, mode):
    config = demo_config(tmp_path, ports=(free_port(), free_port(), free_port()), receive_mode=mode)
    (tmp_path / "config.ini").write_text(tomli_w.dumps(config), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "larkdou", "demo", "--once", "--work-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    question, transcript = out.split("the group now:")
    assert "小明: 加密 key 怎么配置？\n    豆哥: " in question  # answered, quoting the docs
    assert "小红: 中午吃什么\n    (silent" in question
    assert "[" in question.split("小红: 豆哥撤回")[1] and "recalled" in question.split("小红: 豆哥撤回")[1]
    bot_lines = [line for line in transcript.splitlines() if line.strip().startswith("豆哥:")]
    assert bot_lines and all(line.strip() == "豆哥: (recalled)" for line in bot_lines)
    assert config["frontend"]["lark_group"]["app_secret"] not in out + done.stderr
    assert "Traceback" not in done.stderr
    pushes = out.split("event pushes: ")[1].split(")")[0]
    if mode == "long_connection":
        assert pushes == "6 (6 over the long connection, 0 by webhook"
    else:
        assert pushes == "6 (0 over the long connection, 6 by webhook"
