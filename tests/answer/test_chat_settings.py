"""Per-group settings in the answer pipeline: mode, the knowledge base of each chat, and the chat
commands (`/help`, `/kb`, `/forget`)."""

from __future__ import annotations

import logging

import pytest

from larkdou.answer import build_answerer
from larkdou.config import Settings
from larkdou.kb.build import build_kb
from larkdou.kb.registry import kb_settings
from larkdou.message import Mention, Message
from larkdou.store import ContextEntry, SentMessage
from tests.kb.helpers import settings_for, write_docs

BOT = Mention(key="@_user_1", name="豆哥", open_id="ou_bot")
PORTS = {"ports.md": "# 端口\n\n网关监听 6666 端口，助手的 HTTP 接口在 8888 端口。\n"}
ROLLBACK = {"rollback.md": "# 回滚\n\n网关出问题时运行 `ansible-playbook rollback.yml` 回滚到上一个版本。\n"}
GROUPS = [{"chat_id": "oc_quiet", "mode": "off"},
          {"chat_id": "oc_ops", "mode": "mention", "kb": "ops"},
          {"chat_id": "oc_new", "kb": "missing"}]


def msg(chat: str, text: str, *, mention: bool = False, chat_type: str = "group", n: int = 1, **kw: str) -> Message:
    return Message(msg_id=f"om_{chat}_{n}", group_id=chat, content=("@豆哥 " if mention else "") + text,
                   user_id="ou_bob", msg_time=1_700_000_000_000 + n * 1000, chat_type=chat_type,
                   mentions=[BOT] if mention else [], **kw)


@pytest.fixture(scope="module")
def two_kbs(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """"default" holds the ports, "ops" the rollback runbook; three chats with their own settings."""
    tmp = tmp_path_factory.mktemp("two-kbs")
    settings = settings_for(tmp / "work", groups=GROUPS)
    build_kb(settings, write_docs(tmp / "ports", PORTS), progress=False)
    build_kb(kb_settings(settings, "ops"), write_docs(tmp / "ops", ROLLBACK), progress=False)
    return settings


async def test_each_chat_answers_from_its_own_knowledge_base(two_kbs: Settings) -> None:
    answerer = build_answerer(two_kbs, bot_open_id="ou_bot")
    question = "网关出问题了怎么回滚？"
    ops = await answerer.decide(msg("oc_ops", question, mention=True))
    assert ops.answer and "rollback.yml" in ops.text and ops.sources == ["rollback.md › 回滚"]
    elsewhere = await answerer.decide(msg("oc_other", question, mention=True))
    assert elsewhere.answer and "rollback.yml" not in elsewhere.text  # "default" does not know it
    port = await answerer.decide(msg("oc_other", "助手的 HTTP 接口在哪个端口？", mention=True))
    assert "8888" in port.text and port.sources == ["ports.md › 端口"]


async def test_mode_off_never_answers_and_mention_only_when_meant_for_the_bot(two_kbs: Settings, store) -> None:  # type: ignore[no-untyped-def]
    context, ledger = store
    answerer = build_answerer(two_kbs, bot_open_id="ou_bot", context=context, ledger=ledger)
    for quiet in (msg("oc_quiet", "网关监听哪个端口？", mention=True), msg("oc_quiet", "/help", chat_type="p2p")):
        assert (await answerer.decide(quiet)).reason == "mode_off"
    unaddressed = await answerer.decide(msg("oc_ops", "网关出问题了怎么回滚到上一个版本？"))
    assert (unaddressed.answer, unaddressed.reason) == (False, "mention_only")
    assert (await answerer.decide(msg("oc_ops", "网关出问题了怎么回滚？", mention=True, n=2))).answer
    await ledger.record_sent(SentMessage("om_bot_1", "oc_ops", "om_oc_ops_2"))
    reply = await answerer.decide(msg("oc_ops", "rollback.yml 在哪里运行？", n=3, parent_id="om_bot_1",
                                      root_id="om_oc_ops_2"))
    assert (reply.answer, reply.reason) == (True, "reply")  # a reply to the bot is meant for it


async def test_a_chat_whose_knowledge_base_is_not_built_says_so(two_kbs: Settings, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.WARNING)
    answerer = build_answerer(two_kbs, bot_open_id="ou_bot")
    line = next(r.getMessage() for r in caplog.records if "'missing'" in r.getMessage())
    assert "chat oc_new" in line and "larkdou kb build --name missing" in line
    d = await answerer.decide(msg("oc_new", "网关监听哪个端口？", mention=True))
    assert (d.answer, d.reason) == (True, "no_kb") and "“missing”" in d.text and "--name missing" in d.text
    assert (await answerer.decide(msg("oc_new", "网关监听哪个端口？"))).reason == "no_kb"
    assert not (await answerer.decide(msg("oc_new", "网关监听哪个端口？"))).answer


async def test_chat_commands_in_a_direct_chat(two_kbs: Settings, store) -> None:  # type: ignore[no-untyped-def]
    context, ledger = store
    answerer = build_answerer(two_kbs, bot_open_id="ou_bot", context=context, ledger=ledger)
    help_ = await answerer.decide(msg("oc_dm", "/help", chat_type="p2p"))
    assert (help_.answer, help_.reason) == (True, "command") and "/forget" in help_.text and "豆哥撤回" in help_.text
    kb = await answerer.decide(msg("oc_dm", "/kb", chat_type="p2p"))
    assert "知识库“default”" in kb.text and "1 个文档" in kb.text
    ops_kb = await answerer.decide(msg("oc_ops", "/知识库", mention=True))
    assert "知识库“ops”" in ops_kb.text  # in a group, @mentioning the bot

    earlier = msg("oc_dm", "网关监听哪个端口？", chat_type="p2p", n=5)
    await context.record(ContextEntry.user(earlier))
    await context.record(ContextEntry.bot(earlier, "om_bot_5", "6666", ["ports.md › 端口"], earlier.msg_time + 1))
    forget = await answerer.decide(msg("oc_dm", "/forget", chat_type="p2p", n=6))
    assert (forget.answer, forget.reason) == (True, "command") and "2 条消息" in forget.text
    assert await context.context(msg("oc_dm", "那助手呢？", chat_type="p2p", n=7), 6) == []
    again = await answerer.decide(msg("oc_dm", "/忘记", chat_type="p2p", n=8))
    assert "没有需要忘掉的对话" in again.text

    not_a_command = await answerer.decide(msg("oc_other", "/kb"))  # in a group, not addressed
    assert not_a_command.reason != "command"
