"""Follow-ups: a reply to the bot, or a message in its thread, is answered with the earlier exchange
(the context store and the ledger in a real SQLite file, the sample knowledge base)."""

from __future__ import annotations

import itertools
from pathlib import Path

from larkdou.answer import build_answerer
from larkdou.answer.base import Answerer, Decision
from larkdou.assistant.conversation import said as said_as_remembered
from larkdou.config import Settings
from larkdou.message import Mention, Message
from larkdou.sandbox.llm import create_app
from larkdou.serving import serving
from larkdou.store import ContextEntry, ContextStore, Ledger, SentMessage
from tests.kb.helpers import settings_for

CHAT = "oc_chat"
T0 = 1_700_000_000_000
BOT = Mention(key="@_user_1", name="豆哥", open_id="ou_bot")
ALICE = Mention(key="@_user_2", name="Alice", open_id="ou_alice")
_ids = itertools.count(1)


def said(text: str, *, parent: str = "", root: str = "", thread: str = "", chat_type: str = "group",
         mentions: list[Mention] | None = None, chat: str = CHAT) -> Message:
    n = next(_ids)
    return Message(msg_id=f"om_q{n}", group_id=chat, content=text, user_id="ou_bob", msg_time=T0 + n * 10_000,
                   chat_type=chat_type, parent_id=parent, root_id=root, thread_id=thread, mentions=mentions or [])


class Chat:
    """The answerer with its store, recording each exchange as the worker does."""

    def __init__(self, answerer: Answerer, context: ContextStore, ledger: Ledger):
        self.answerer, self.context, self.ledger = answerer, context, ledger

    async def ask(self, msg: Message) -> tuple[Decision, str]:
        """The decision, and the id of the bot's reply when it answered (recorded like a sent reply)."""
        await self.context.record(said_as_remembered(msg))
        d = await self.answerer.decide(msg)
        if not d.answer:
            return d, ""
        bot_id = f"om_bot_{msg.msg_id}"
        await self.ledger.record_sent(SentMessage(bot_id, msg.chat_id, msg.msg_id, msg.msg_time + 1000))
        await self.context.record(ContextEntry.bot(msg, bot_id, d.reply.body if d.reply else d.text, d.sources,
                                                   msg.msg_time + 1000))
        return d, bot_id


def chat_of(settings: Settings, store: tuple[ContextStore, Ledger]) -> Chat:
    context, ledger = store
    return Chat(build_answerer(settings, bot_open_id="ou_bot", context=context, ledger=ledger), context, ledger)


async def test_a_reply_to_the_bot_is_answered_with_the_earlier_question(sample_settings, store) -> None:  # type: ignore[no-untyped-def]
    chat = chat_of(sample_settings, store)
    q = said("@豆哥 网关默认端口是多少？", mentions=[BOT])
    first, answer_id = await chat.ask(q)
    assert first.answer and "6666" in first.text
    follow = said("那助手呢？", parent=answer_id, root=q.msg_id)
    d, _ = await chat.ask(follow)
    assert (d.answer, d.reason) == (True, "reply")
    assert "8888" in d.text  # "the assistant's port": only the earlier question says what is asked
    alone = await build_answerer(sample_settings, bot_open_id="ou_bot").decide(follow)
    assert "8888" not in alone.text  # without the earlier exchange the same words find something else


async def test_a_follow_up_that_changes_the_subject_finds_its_own(sample_settings, store) -> None:  # type: ignore[no-untyped-def]
    chat = chat_of(sample_settings, store)
    q = said("网关默认端口是多少？", chat_type="p2p")
    _, answer_id = await chat.ask(q)
    d, _ = await chat.ask(said("可以用环境变量保存密钥吗？", parent=answer_id, root=q.msg_id, chat_type="p2p"))
    assert d.answer and "LARKDOU_APP_SECRET" in d.text and "6666" not in d.text


async def test_in_a_thread_questions_are_answered_and_thanks_are_not(sample_settings, store) -> None:  # type: ignore[no-untyped-def]
    chat = chat_of(sample_settings, store)
    q = said("@豆哥 网关默认端口是多少？", mentions=[BOT])
    await chat.ask(q)
    in_thread = dict(parent=q.msg_id, root=q.msg_id, thread="omt_1")  # in a thread both are its root
    d, _ = await chat.ask(said("那助手的端口呢？", **in_thread))
    assert (d.answer, d.reason) == (True, "thread") and "8888" in d.text
    for thanks in ("好的谢谢", "解决了", "ok 了", "it works now, thanks!"):
        d, _ = await chat.ask(said(thanks, **in_thread))
        assert (d.answer, d.reason) == (False, "chitchat"), thanks
    d, _ = await chat.ask(said("@Alice 你那边也是这样吗", mentions=[ALICE], **in_thread))
    assert not d.answer  # meant for Alice: the group decision, which says no


async def test_a_thread_the_bot_answered_in_below_its_root(sample_settings, store) -> None:  # type: ignore[no-untyped-def]
    chat = chat_of(sample_settings, store)
    top = said("大家看下网关")
    await chat.ask(top)
    in_thread = dict(parent=top.msg_id, root=top.msg_id, thread="omt_3")
    d, _ = await chat.ask(said("@豆哥 网关默认端口是多少？", mentions=[BOT], **in_thread))
    assert d.answer
    d, _ = await chat.ask(said("那助手的端口呢？", **in_thread))  # the bot's answer is in the thread
    assert (d.answer, d.reason) == (True, "thread") and "8888" in d.text


async def test_a_thread_the_bot_has_no_part_in_is_ordinary_group_talk(sample_settings, store) -> None:  # type: ignore[no-untyped-def]
    chat = chat_of(sample_settings, store)
    q = said("今天谁值班")
    assert not (await chat.ask(q))[0].answer
    assert not (await chat.ask(said("我", parent=q.msg_id, root=q.msg_id, thread="omt_2")))[0].answer
    d, _ = await chat.ask(said("那助手呢？", parent=q.msg_id, root=q.msg_id, thread="omt_2"))
    assert (d.answer, d.reason) == (False, "not_relevant")


async def test_the_llm_sees_the_earlier_exchange_before_the_question(sample_work_dir: Path, store) -> None:  # type: ignore[no-untyped-def]
    app = create_app()
    async with serving(app) as url:
        settings = settings_for(sample_work_dir, llm={"base_url": f"{url}/v1", "model": "test", "retries": 0})
        chat = chat_of(settings, store)
        q = said("@豆哥 网关默认端口是多少？", mentions=[BOT])
        first, answer_id = await chat.ask(q)
        d, _ = await chat.ask(said("那助手呢？", parent=answer_id, root=q.msg_id))
        await chat.answerer.aclose()
    assert (d.answer, d.reason, d.mode) == (True, "reply", "llm")
    messages = app.state.llm.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "earlier messages of the conversation" in messages[0]["content"]
    assert messages[1]["content"] == "网关默认端口是多少？"  # without the @mention
    assert messages[2]["content"] == first.reply.body
    assert messages[3]["content"].endswith("Question: 那助手呢？")
    assert "8888" in messages[3]["content"]  # the passage retrieved with the earlier question
    first_prompt = app.state.llm.requests[0]["messages"]
    assert [m["role"] for m in first_prompt] == ["system", "user"]  # a new question has no history


async def test_a_recalled_answer_is_not_context_any_more(sample_settings, store) -> None:  # type: ignore[no-untyped-def]
    chat = chat_of(sample_settings, store)
    q = said("网关默认端口是多少？", chat_type="p2p")
    _, answer_id = await chat.ask(q)
    assert await chat.context.drop_bot(CHAT) == 1  # what the recall path does
    follow = said("那助手呢？", chat_type="p2p")
    assert [e.role for e in await chat.context.context(follow, 6)] == ["user"]
    d, _ = await chat.ask(follow)
    assert d.answer and "8888" in d.text  # the question is still there to follow up on


async def test_without_a_store_a_reply_to_the_bot_is_ordinary_group_talk(sample_settings) -> None:  # type: ignore[no-untyped-def]
    answerer = build_answerer(sample_settings, bot_open_id="ou_bot")
    d = await answerer.decide(said("那助手呢？", parent="om_bot_x", root="om_q0"))
    assert (d.answer, d.reason) == (False, "not_relevant")
