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


def test_demo_with_the_llm_stand_in_answers_in_cards_it_writes(tmp_path):
    config = demo_config(tmp_path, ports=(free_port(), free_port(), free_port()))
    (tmp_path / "config.ini").write_text(tomli_w.dumps(config), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "larkdou", "demo", "--once", "--llm", "--llm-delay", "0.01",
                           "--work-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    question = done.stdout.split("the group now:")[0]
    assert "LLM stand-in http://127.0.0.1:" in done.stdout and "replies as Lark cards, written by the LLM" in done.stdout
    answer = question.split("小明: 加密 key 怎么配置？\n    豆哥: ")[1].split("\n小红:")[0]
    assert "encrypt_key" in answer and answer.count("[1]") == 2  # cited in the text and in the sources
    assert "来源\n    [1] 02-configuration.md ›" in answer and answer.endswith("说“豆哥撤回”可撤回我在本群的回答")
    assert "<font" not in answer and "Traceback" not in done.stderr
    assert "[1 recalled" in question


def test_demo_refuses_an_llm_delay_without_the_llm(tmp_path):
    done = subprocess.run([sys.executable, "-m", "larkdou", "demo", "--once", "--llm-delay", "0.1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--llm-delay goes with --llm" in done.stderr and "Traceback" not in done.stderr
