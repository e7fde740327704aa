"""Chat commands: which messages are commands, and what each one answers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from larkdou.answer.commands import FORGET, HELP, KB, Command, command_of, forget_reply, help_reply, kb_reply, parse_command
from larkdou.config import build_settings
from larkdou.kb.registry import KBInfo
from larkdou.message import Mention, Message

SETTINGS = build_settings({"frontend": {"lark_group": {"recall_keywords": ["豆哥撤回"]}},
                           "groups": [{"chat_id": "oc_ops", "mode": "mention", "kb": "ops",
                                       "recall_keywords": ["撤回"]}]}, env={})


@pytest.mark.parametrize("text, expected", [
    ("/help", Command(HELP)),
    ("  /HELP  ", Command(HELP)),
    ("／kb", Command(KB)),
    ("/kb？", Command(KB)),
    ("/知识库", Command(KB)),
    ("/forget", Command(FORGET)),
    ("/忘记 全部", Command(FORGET, "全部")),
    ("/Forget\nplease", Command(FORGET, "please")),
    ("/帮助", Command(HELP)),
])
def test_commands_are_recognised(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize("text", ["/etc/hosts 怎么改？", "/", "/ help", "help", "请 /help", "/kbs", "/forgetful", ""])
def test_other_messages_are_not_commands(text: str) -> None:
    assert parse_command(text) is None


def test_a_command_after_an_at_mention_counts() -> None:
    msg = Message(msg_id="om_1", group_id="oc_ops", content="@豆哥 /kb",
                  mentions=[Mention(key="@_user_1", name="豆哥", open_id="ou_bot")])
    assert command_of(msg) == Command(KB)
    assert command_of(Message(msg_id="om_2", group_id="oc_ops", content="怎么 /forget 历史？")) is None


def test_help_names_the_commands_the_chats_recall_keyword_and_mode() -> None:
    ops = help_reply(SETTINGS.for_chat("oc_ops"))
    for word in ("/kb", "/forget", "/help", "“撤回”", "只在 @我 或回复我时回答", "only when @mentioned"):
        assert word in ops
    other = help_reply(SETTINGS.for_chat("oc_other"))
    assert "“豆哥撤回”" in other and "自动判断" in other and "撤回”" not in other.replace("豆哥撤回”", "")


def test_kb_says_which_knowledge_base_answers_when_it_was_built_and_how_big_it_is() -> None:
    built = time.mktime((2025, 3, 1, 9, 30, 0, 0, 0, -1))
    info = KBInfo(name="ops", index_dir=Path("/kb/kbs/ops/index"), built_at=built, documents=12, chunks=340,
                  docs_dir="/docs/ops")
    text = kb_reply(SETTINGS.for_chat("oc_ops"), info, now=built + 3 * 3600 + 60)
    assert "知识库“ops”" in text and "12 个文档" in text and "340 个段落" in text
    assert "2025-03-01 09:30" in text and "3 小时前" in text and "3 h ago" in text
    assert "2 天前" in kb_reply(SETTINGS.for_chat("oc_ops"), info, now=built + 2 * 86400 + 5)
    assert "刚刚" in kb_reply(SETTINGS.for_chat("oc_ops"), info, now=built + 20)

    missing = kb_reply(SETTINGS.for_chat("oc_other"), None)
    assert "知识库“default”" in missing and "还没有建立" in missing and "kb build --name default" in missing


def test_forget_says_what_it_forgot() -> None:
    assert "7 条消息" in forget_reply(7) and "7 messages" in forget_reply(7)
    assert "没有需要忘掉的对话" in forget_reply(0)
