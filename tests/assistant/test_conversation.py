"""Conversations through the real sandbox, gateway routes and assistant (the sample knowledge base):
follow-ups answered with the earlier exchange, answers placed in the question's thread, a recall
taking answers out of the context, per-group recall permissions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from larkdou.sandbox.llm import create_app as create_llm
from larkdou.serving import serving
from larkdou.store import open_context
from tests.assistant.stack import Sandbox, open_stack
from tests.kb.helpers import sample_work_dir  # noqa: F401  (fixture)

CHAT = "oc_team"


def kb_of(work: Path) -> dict[str, Any]:
    return {"dir": str(work / "kb")}


async def bot_reply_to(sandbox: Sandbox, chat: str, source: str) -> dict[str, Any]:
    items = await sandbox.wait_for(chat, lambda ms: any(m["parent_id"] == source and m["sender"]["type"] == "app"
                                                        for m in ms))
    [reply] = [m for m in items if m["parent_id"] == source and m["sender"]["type"] == "app"]
    return reply


async def test_a_reply_to_the_answer_is_answered_with_the_earlier_question(tmp_path, sample_work_dir) -> None:  # type: ignore[no-untyped-def]
    async with open_stack(tmp_path, None, kb=kb_of(sample_work_dir)) as (sandbox, run):
        q = await sandbox.say(CHAT, "网关默认端口是多少？", mention_bot=True)
        answer = await bot_reply_to(sandbox, CHAT, q)
        assert "6666" in answer["text"]
        follow = await sandbox.say(CHAT, "那助手呢？", parent_id=answer["message_id"])  # no @mention
        assert (await run.worker.wait_handled(follow)).status == "answered"
        reply = await bot_reply_to(sandbox, CHAT, follow)
        assert "8888" in reply["text"]
        thanks = await sandbox.say(CHAT, "好的谢谢", parent_id=reply["message_id"])
        assert (await run.worker.wait_handled(thanks)).reason == "chitchat"
        assert [m["parent_id"] for m in await sandbox.bot_messages(CHAT)] == [q, follow]


async def test_a_question_in_a_thread_is_answered_in_the_thread(tmp_path, sample_work_dir) -> None:  # type: ignore[no-untyped-def]
    mention_only = [{"chat_id": CHAT, "mode": "mention"}]  # so that only what is meant for the bot is answered
    async with open_stack(tmp_path, None, kb=kb_of(sample_work_dir), groups=mention_only) as (sandbox, run):
        top = await sandbox.say(CHAT, "大家看下网关", user="carol")
        q = await sandbox.say(CHAT, "@豆哥 网关默认端口是多少？", mention_bot=True, parent_id=top, in_thread=True)
        answer = await bot_reply_to(sandbox, CHAT, top)  # in a thread every message's parent is its root
        shown = {m["message_id"]: m for m in await sandbox.messages(CHAT)}
        assert answer["thread_id"] and answer["thread_id"] == shown[q]["thread_id"]
        assert "6666" in answer["text"]
        # the thread goes on without @mentions: the bot answered there, so it is meant for the bot
        follow = await sandbox.say(CHAT, "那助手的端口呢？", parent_id=top, in_thread=True)
        assert (await run.worker.wait_handled(follow)).status == "answered"
        later = [m for m in await sandbox.bot_messages(CHAT) if m["message_id"] != answer["message_id"]]
        assert [m["thread_id"] for m in later] == [answer["thread_id"]] and "8888" in later[0]["text"]
        for thanks in ("好的谢谢", "解决了"):
            said = await sandbox.say(CHAT, thanks, parent_id=top, in_thread=True)
            assert (await run.worker.wait_handled(said)).reason == "chitchat"
        elsewhere = await sandbox.say(CHAT, "那助手的端口呢？")  # the same words outside the thread
        assert (await run.worker.wait_handled(elsewhere)).reason == "mention_only"
        assert len(await sandbox.bot_messages(CHAT)) == 2


async def test_reply_in_thread_opens_a_thread_for_the_answer(tmp_path, sample_work_dir) -> None:  # type: ignore[no-untyped-def]
    async with open_stack(tmp_path, None, kb=kb_of(sample_work_dir), reply_in_thread=True) as (sandbox, run):
        q = await sandbox.say(CHAT, "网关默认端口是多少？", mention_bot=True)
        answer = await bot_reply_to(sandbox, CHAT, q)
        assert answer["thread_id"].startswith("omt_") and answer["root_id"] == q


async def test_a_recalled_answer_is_no_longer_context(tmp_path, sample_work_dir) -> None:  # type: ignore[no-untyped-def]
    llm = create_llm()
    async with serving(llm) as url:
        config = dict(kb=kb_of(sample_work_dir), llm={"base_url": f"{url}/v1", "model": "test", "retries": 0})
        async with open_stack(tmp_path, None, **config) as (sandbox, run):
            dm = "oc_direct"
            q = await sandbox.say(dm, "网关默认端口是多少？", chat_type="p2p")
            answer = await bot_reply_to(sandbox, dm, q)
            follow = await sandbox.say(dm, "那助手呢？", chat_type="p2p")
            await bot_reply_to(sandbox, dm, follow)
            roles = [m["role"] for m in llm.state.llm.requests[-1]["messages"]]
            assert roles == ["system", "user", "assistant", "user"]  # the answer was context

            recall = await sandbox.say(dm, "豆哥撤回", chat_type="p2p")
            assert (await run.worker.wait_handled(recall)).status == "recalled"
            again = await sandbox.say(dm, "那沙盒呢？", chat_type="p2p")
            await bot_reply_to(sandbox, dm, again)
            history = llm.state.llm.requests[-1]["messages"][1:-1]
            assert [m["role"] for m in history] == ["user", "user"]  # the questions stay; no answer
            assert not any(answer["text"][:20] in m["content"] for m in history)


async def test_recall_permission_per_group(tmp_path, sample_work_dir) -> None:  # type: ignore[no-untyped-def]
    groups = [{"chat_id": "oc_locked", "recall_allow": ["ou_nobody"]}]
    async with open_stack(tmp_path, None, kb=kb_of(sample_work_dir), groups=groups) as (sandbox, run):
        for chat in ("oc_locked", "oc_open"):
            q = await sandbox.say(chat, "网关默认端口是多少？", mention_bot=True)
            await bot_reply_to(sandbox, chat, q)
            recall = await sandbox.say(chat, "豆哥撤回", user="bob")
            await run.worker.wait_handled(recall)
        assert len(await sandbox.visible_bot_messages("oc_locked")) == 1  # bob may not recall there
        assert await sandbox.visible_bot_messages("oc_open") == []


async def test_what_is_kept_as_context(tmp_path, sample_work_dir) -> None:  # type: ignore[no-untyped-def]
    groups = [{"chat_id": "oc_off", "mode": "off"}]
    async with open_stack(tmp_path, None, kb=kb_of(sample_work_dir), groups=groups) as (sandbox, run):
        quiet = await sandbox.say("oc_off", "网关默认端口是多少？", mention_bot=True)
        kept = await sandbox.say(CHAT, "@豆哥 网关默认端口是多少？", mention_bot=True)
        thanks = await sandbox.say(CHAT, "好的谢谢")
        command = await sandbox.say("oc_dm", "/kb", chat_type="p2p")
        assert (await run.worker.wait_handled(quiet)).reason == "mode_off"
        for msg_id in (kept, thanks, command):
            await run.worker.wait_handled(msg_id)
        answer = await bot_reply_to(sandbox, CHAT, kept)
        [kb_reply] = await sandbox.bot_messages("oc_dm")
        store = await open_context(f"sqlite:///{tmp_path / 'assistant.db'}")  # the stack's assistant store
        try:
            question = await store.entry(kept)
            assert question is not None and question.text == "网关默认端口是多少？"  # without the @mention
            bot = await store.entry(answer["message_id"])
            assert bot is not None and bot.parent_id == kept and bot.sources[0] == "01-quickstart.md › 三个进程"
            for gone in (quiet, thanks, command, kb_reply["message_id"]):  # an off chat, thanks, a command
                assert await store.entry(gone) is None
        finally:
            await store.close()
