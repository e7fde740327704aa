"""Conversations end to end: real `larkdou assistant` processes between the sandbox, a real gateway and
the LLM stand-in. A follow-up is answered with the earlier exchange by another assistant than the
one that answered first (the context lives in the shared store); thanks in a thread stay silent; a
recalled answer is no longer context; groups have their own mode and knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from larkdou.config import build_settings
from larkdou.kb.build import build_kb
from larkdou.kb.registry import kb_settings
from tests.conftest import free_port
from tests.e2e.harness import AssistantProcess, World, world
from tests.kb.helpers import write_docs

CHAT = "oc_followups"
QUESTION = "网关默认端口是多少？"


def prompt_of(w: World, question: str) -> list[dict[str, Any]]:
    """The messages the LLM was given for `question` (the last request that asked it)."""
    return next(r["messages"] for r in reversed(w.llm.requests) if r["messages"][-1]["content"].endswith(question))


async def test_another_assistant_answers_a_follow_up_with_the_earlier_exchange(tmp_path, sample_kb, redis_url):
    async with world(tmp_path, sample_kb, ledger=redis_url) as w:  # both assistants keep their store in Redis
        first = AssistantProcess(w, name="first")
        await first.start()
        try:
            q = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
            await w.wait_answered(CHAT, q)
            await w.wait_drained()  # acked: the card streamed into is final
            [answer] = await w.bot_answers(CHAT, q)
        finally:
            assert first.stop() == 0
        second = AssistantProcess(w, api_port=free_port(), name="second")
        await second.start()
        try:
            follow = await w.sandbox.say(CHAT, "那助手呢？", parent_id=answer["message_id"])
            [reply] = await w.wait_answered(CHAT, follow)
            await w.wait_drained()
        finally:
            assert second.stop() == 0
    assert reply["text"].strip() and not reply["deleted"]
    messages = prompt_of(w, "那助手呢？")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == QUESTION  # what the first assistant was asked ...
    assert messages[2]["content"] and messages[2]["content"] in answer["text"]  # ... and answered
    assert "8888" in messages[3]["content"]  # the passage that answers "and the assistant's port?"
    assert q in first.log.read_text() and follow not in first.log.read_text()
    assert follow in second.log.read_text()


async def test_thanks_in_a_thread_are_silent_and_a_recalled_answer_is_not_context(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb) as w:
        proc = AssistantProcess(w)
        await proc.start()
        try:
            q = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
            [answer] = await w.wait_answered(CHAT, q)
            for thanks in ("好的谢谢", "解决了", "ok 了"):  # in the thread of the bot's answer
                await w.sandbox.say(CHAT, thanks, parent_id=answer["message_id"], in_thread=True)
            follow = await w.sandbox.say(CHAT, "那助手呢？", parent_id=answer["message_id"], in_thread=True)
            items = await w.sandbox.wait_for(CHAT, lambda ms: sum(m["sender"]["type"] == "app" for m in ms) == 2)
            await w.wait_drained()
            bot = [m for m in items if m["sender"]["type"] == "app"]
            assert len(await w.sandbox.bot_messages(CHAT)) == 2  # the answer and the follow-up's, no thanks
            thread = next(m for m in items if m["message_id"] == follow)["thread_id"]
            assert thread and bot[1]["thread_id"] == thread  # answered in the thread
            assert [m["role"] for m in prompt_of(w, "那助手呢？")][1:3] == ["user", "assistant"]

            dm = "oc_direct"
            q2 = await w.sandbox.say(dm, QUESTION, chat_type="p2p")
            await w.wait_answered(dm, q2)
            await w.sandbox.say(dm, "豆哥撤回", chat_type="p2p")
            await w.sandbox.wait_for(dm, lambda items: all(m["deleted"] for m in items if m["sender"]["type"] == "app"))
            await w.wait_drained()
            after = await w.sandbox.say(dm, "那沙盒呢？", chat_type="p2p")
            await w.wait_answered(dm, after)
            await w.wait_drained()
        finally:
            assert proc.stop() == 0
    assert follow in proc.log.read_text()
    history = prompt_of(w, "那沙盒呢？")[1:-1]
    assert [m["role"] for m in history] == ["user"] and history[0]["content"] == QUESTION  # the answer is gone


PORTS = {"ports.md": "# 端口\n\n网关监听 6666 端口，助手的 HTTP 接口在 8888 端口。\n"}
ROLLBACK = {"rollback.md": "# 回滚\n\n网关出问题时运行 `ansible-playbook rollback.yml` 回滚到上一个版本。\n"}


def two_kbs(tmp: Path) -> Path:
    """A knowledge-base folder with "default" (ports) and "ops" (the rollback runbook)."""
    settings = build_settings({"kb": {"dir": str(tmp / "kb")}}, base_dir=tmp, env={})
    build_kb(settings, write_docs(tmp / "ports", PORTS), progress=False)
    build_kb(kb_settings(settings, "ops"), write_docs(tmp / "ops", ROLLBACK), progress=False)
    return tmp / "kb"


async def test_groups_answer_in_their_mode_from_their_knowledge_base(tmp_path):
    groups = [{"chat_id": "oc_ops", "kb": "ops"}, {"chat_id": "oc_quiet", "mode": "mention"}]
    async with world(tmp_path, two_kbs(tmp_path), groups=groups) as w:
        proc = AssistantProcess(w)
        await proc.start()
        try:
            asked = {chat: await w.sandbox.say(chat, "@豆哥 网关出问题了怎么回滚？", mention_bot=True)
                     for chat in ("oc_ops", "oc_dev")}
            unaddressed = await w.sandbox.say("oc_quiet", "网关监听哪个端口？")
            addressed = await w.sandbox.say("oc_quiet", "网关监听哪个端口？", mention_bot=True)
            for chat, question in (("oc_ops", asked["oc_ops"]), ("oc_dev", asked["oc_dev"]), ("oc_quiet", addressed)):
                await w.wait_answered(chat, question)
            await w.wait_drained()  # acked: the cards streamed into are final
            [ops] = await w.bot_answers("oc_ops", asked["oc_ops"])
            [dev] = await w.bot_answers("oc_dev", asked["oc_dev"])
            [quiet] = await w.bot_answers("oc_quiet", addressed)
            assert await w.bot_answers("oc_quiet", unaddressed) == []  # mode "mention"
        finally:
            assert proc.stop() == 0
    assert "ansible-playbook" in ops["text"] and "rollback.md" in ops["text"]
    assert "ansible-playbook" not in dev["text"] and "ports.md" in dev["text"]  # "default" has no runbook
    assert "6666" in quiet["text"]
